package transcode

import (
	"fmt"
	"strconv"
	"strings"
)

// Video encoders an FFmpeg can be configured with.
const (
	EncoderX264  = "libx264" // software H.264, the default
	EncoderNVENC = "nvenc"   // NVIDIA hardware H.264 (h264_nvenc)
)

// Audio settings shared by every rendition. Opus in MPEG-TS is not played by
// common HLS players, so every rendition, the passthrough included, carries
// AAC-LC stereo at 48 kHz (Opus's own clock, so no resampling in practice).
const (
	audioBitrate    = "128k"
	audioChannels   = "2"
	audioSampleRate = "48000"
)

// segmentOnlyGOP is the keyframe interval, in frames, used when a profile's
// GOP is 0: long enough that the only keyframe is the forced one at the
// segment's first frame.
const segmentOnlyGOP = 1 << 20

// EncodeOptions chooses the video encoder BuildArgs uses. The zero value is
// libx264 on the CPU.
type EncodeOptions struct {
	// Encoder is EncoderX264 (or "") or EncoderNVENC.
	Encoder string
	// GPU is the NVENC device index (ffmpeg's -gpu); ignored for libx264.
	GPU int
	// HWDecode, for NVENC only, also decodes, resamples and scales on the GPU
	// (CUDA frames, scale_cuda) so frames never cross the PCIe bus twice.
	HWDecode bool
	// Threads caps ffmpeg's decoder, filter and encoder threads; 0 lets
	// ffmpeg choose.
	Threads int
}

// OutputName is the file, relative to the job's working directory, that
// rendition i of a job is written to. Indexes rather than profile names keep
// file names independent of anything configurable.
func OutputName(i int) string { return "out" + strconv.Itoa(i) + ".ts" }

// BuildArgs returns the ffmpeg arguments that transcode job with libx264; see
// EncodeOptions.Args.
func BuildArgs(job Job) []string { return EncodeOptions{}.Args(job) }

// Args returns the arguments of ONE ffmpeg invocation producing every
// rendition of job: MPEG-TS on stdin, rendition i written to OutputName(i)
// in the working directory. It is a pure function of its inputs.
//
// Timestamps are copied through (-copyts, -mpegts_copyts, zero mux delay) so
// each rendition's segment starts at the input's PTS and renditions line up
// across HLS variant playlists (RFC 8216 section 6.2.4 requires matching
// timestamps for variant switching).
func (o EncodeOptions) Args(job Job) []string {
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning"}
	args = append(args, o.inputArgs()...)
	if graph := o.filterGraph(job); graph != "" {
		args = append(args, "-filter_complex", graph)
		if o.Threads > 0 {
			args = append(args, "-filter_complex_threads", strconv.Itoa(o.Threads))
		}
	}
	enc := 0 // index of the next encoded (non-source) rendition's filter output
	for i, p := range job.Profiles {
		if p.IsSource() {
			args = append(args, "-map", "0:v:0", "-c:v", "copy")
		} else {
			_, h := FitSize(p, job.SourceWidth, job.SourceHeight)
			args = append(args, "-map", fmt.Sprintf("[v%d]", enc))
			args = append(args, o.videoArgs(p, h)...)
			enc++
		}
		args = append(args, audioArgs()...)
		args = append(args, muxArgs(OutputName(i))...)
	}
	return args
}

func (o EncodeOptions) inputArgs() []string {
	var args []string
	if o.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(o.Threads))
	}
	if o.hwDecode() {
		gpu := strconv.Itoa(o.GPU)
		args = append(args, "-hwaccel", "cuda", "-hwaccel_device", gpu, "-hwaccel_output_format", "cuda")
	}
	// -copyts keeps the input's timestamps instead of rebasing them to zero.
	// A small probe lets ffmpeg start decoding while the segment is still
	// being cut, instead of first buffering seconds of it (the default
	// analyzeduration is 5 s): castnet's segments start with PAT, PMT and
	// an IDR carrying SPS/PPS, so the stream parameters are in the first
	// few packets.
	args = append(args, "-probesize", "262144", "-analyzeduration", "300000")
	return append(args, "-f", "mpegts", "-copyts", "-i", "pipe:0")
}

func (o EncodeOptions) hwDecode() bool { return o.HWDecode && o.Encoder == EncoderNVENC }

// filterGraph builds "split, then fps and scale per encoded rendition". The
// fps filter runs before scale so dropped frames are never scaled, and turns
// the publisher's variable frame rate (WebRTC) into the constant rate HLS
// players expect. setsar=1 stops an odd source pixel aspect leaking into a
// rendition whose size was already chosen for square pixels.
func (o EncodeOptions) filterGraph(job Job) string {
	var chains []string
	for _, p := range job.Profiles {
		if p.IsSource() {
			continue
		}
		w, h := FitSize(p, job.SourceWidth, job.SourceHeight)
		scale := "scale"
		if o.hwDecode() {
			scale = "scale_cuda"
		}
		chains = append(chains, fmt.Sprintf("fps=%d,%s=%d:%d,setsar=1", p.FPS, scale, w, h))
	}
	switch len(chains) {
	case 0:
		return ""
	case 1:
		return "[0:v:0]" + chains[0] + "[v0]"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[0:v:0]split=%d", len(chains))
	for i := range chains {
		fmt.Fprintf(&b, "[s%d]", i)
	}
	for i, c := range chains {
		fmt.Fprintf(&b, ";[s%d]%s[v%d]", i, c, i)
	}
	return b.String()
}

// videoArgs encodes one rendition of output height h.
//
// B-frames are off (-bf 0). HLS would accept them, but each segment is
// encoded on its own with copied timestamps, and B-frames put the first DTS
// before the segment's first PTS, so consecutive segments' decode times
// overlap (and go negative near zero). Without them DTS == PTS, renditions
// stay usable for WebRTC playback later (browsers do not decode B-frames),
// libx264 and NVENC behave alike, and the price is a few percent of bitrate.
func (o EncodeOptions) videoArgs(p Profile, h int) []string {
	gop := segmentOnlyGOP
	force := "expr:eq(n,0)" // IDR on the segment's first frame only
	if p.GOP > 0 {
		gop = gopFrames(p.GOP, p.FPS)
		force = fmt.Sprintf("expr:not(mod(n,%d))", gop)
	}
	// High profile (8x8 transforms) pays off at 720p and up; Main is the
	// safest choice for the small renditions old phones pick.
	profile := "main"
	if h >= 720 {
		profile = "high"
	}
	rate := []string{
		"-b:v", strconv.Itoa(p.Bitrate),
		"-maxrate", strconv.Itoa(p.Bitrate),
		// A two-second VBV: one segment's worth, so a segment's size stays
		// near bitrate x duration and BANDWIDTH is predictable.
		"-bufsize", strconv.Itoa(2 * p.Bitrate),
	}
	if o.Encoder == EncoderNVENC {
		args := []string{"-c:v", "h264_nvenc", "-gpu", strconv.Itoa(o.GPU), "-preset", "p4", "-tune", "hq",
			"-profile:v", profile, "-rc", "vbr"}
		args = append(args, rate...)
		return append(args, "-g", strconv.Itoa(gop), "-bf", "0", "-no-scenecut", "1",
			"-forced-idr", "1", "-force_key_frames", force)
	}
	args := []string{"-c:v", "libx264", "-preset", "veryfast", "-profile:v", profile, "-pix_fmt", "yuv420p"}
	if o.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(o.Threads))
	}
	args = append(args, rate...)
	// keyint_min = g and sc_threshold 0 stop x264 adding scene-cut
	// keyframes, so keyframes fall exactly on the GOP cadence.
	return append(args, "-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0",
		"-bf", "0", "-force_key_frames", force)
}

func audioArgs() []string {
	// "?" makes the audio optional: a segment without audio still works.
	// aresample=async=1 hands the encoder continuous audio where the
	// publisher's timestamps overlap or leave gaps: GStreamer stamps its
	// second Opus packet 13.5 ms after the first, a 20 ms one (the 6.5 ms
	// is the encoder's pre-skip), and decoded as is the frames overlap and
	// ffmpeg's AAC output overlaps with them. Under 100 ms the
	// difference is absorbed a sample a second; beyond, silence is padded
	// or samples dropped (aresample's min_hard_comp).
	return []string{"-map", "0:a:0?", "-c:a", "aac", "-b:a", audioBitrate, "-ac", audioChannels, "-ar", audioSampleRate,
		"-af", "aresample=async=1"}
}

// muxArgs writes MPEG-TS with the input's timestamps untouched: without
// -mpegts_copyts 1 and a zero mux delay the muxer shifts every PTS forward
// (by 2 x muxdelay) and renditions would no longer line up with the source.
func muxArgs(name string) []string {
	// -flush_packets 1: each packet reaches the file as it is muxed, so a
	// follower (Job.Partial) sees the rendition grow frame by frame instead
	// of in 32 KiB steps of ffmpeg's I/O buffer.
	return []string{"-f", "mpegts", "-mpegts_copyts", "1", "-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1", name}
}
