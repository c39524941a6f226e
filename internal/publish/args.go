package publish

import (
	"fmt"
	"strconv"
	"time"
)

// The argument builders below are pure: they name ffmpeg's outputs by
// pipe (pipeTarget), video pieces first, then the audio.

// testPatternArgs builds the ffmpeg command line that encodes a
// testPatternClip of testsrc2 video and a beeping sine.
func testPatternArgs(cfg Config) []string {
	clip := strconv.FormatFloat(testPatternClip.Seconds(), 'f', -1, 64)
	args := commonArgs()
	args = append(args,
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%s", cfg.Width, cfg.Height, cfg.FPS, clip),
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000:duration="+clip,
	)
	args = append(args, videoOutArgs(cfg, "0:v:0", pipeTarget(0))...)
	return append(args, audioOutArgs("1:a:0", pipeTarget(1))...)
}

// fileArgs builds the ffmpeg command line that encodes the streams info
// found in cfg.File, reading at most info.duration when cfg.Duration asks
// for less than the whole file.
func fileArgs(cfg Config, info probeInfo) []string {
	args := commonArgs()
	if cfg.Duration > 0 {
		args = append(args, "-t", formatSeconds(cfg.Duration))
	}
	args = append(args, "-i", cfg.File)
	out := 0
	if info.hasVideo {
		args = append(args, videoOutArgs(cfg, "0:v:0", pipeTarget(out))...)
		out++
	}
	if info.hasAudio {
		args = append(args, audioOutArgs("0:a:0", pipeTarget(out))...)
	}
	return args
}

func commonArgs() []string {
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-nostats",
		"-progress", "pipe:1", "-stats_period", "1"}
}

// videoOutArgs encodes what WebRTC receivers accept without negotiation
// surprises: constrained baseline (the 42e01f we offer), no B-frames, and
// an IDR every second because a prepared file cannot answer a PLI. The VBV
// buffer of one second keeps frames small enough to pace smoothly. Raw
// H.264 has no timestamps, so -r forces the constant rate that makes every
// access unit last exactly 1/FPS when published.
func videoOutArgs(cfg Config, stream, target string) []string {
	rate := strconv.Itoa(cfg.Bitrate)
	gop := strconv.Itoa(cfg.FPS)
	return []string{"-map", stream, "-r", strconv.Itoa(cfg.FPS),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
		"-profile:v", "baseline", "-pix_fmt", "yuv420p", "-bf", "0",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-bsf:v", "h264_mp4toannexb", "-f", "h264", target}
}

// audioOutArgs encodes Opus at 48 kHz stereo in 20 ms packets. A page
// duration of one packet puts each packet on its own Ogg page, since the
// Ogg reader hands out whole pages.
func audioOutArgs(stream, target string) []string {
	return []string{"-map", stream,
		"-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "96000",
		"-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", target}
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
