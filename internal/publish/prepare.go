package publish

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// maxMediaBytes bounds the encoded media Prepare loads into memory, where
// every publisher sharing it reads without copying. Longer inputs can be
// shortened with Config.Duration.
const maxMediaBytes = 1 << 30

// testPatternClip is how much test pattern Prepare encodes; Publish loops
// it. Whole seconds keep the loop point on an IDR.
const testPatternClip = 10 * time.Second

// Names of the encoded files inside the Media's temporary directory.
const (
	videoFileName = "video.h264"
	audioFileName = "audio.ogg"
)

// Media is encoded media ready to publish: H.264 access units and Opus
// packets held in memory, shared read-only by any number of Publish calls.
type Media struct {
	dir   string
	video *trackData // nil when the input has no video
	audio *trackData // nil when the input has no audio
	loop  bool       // the test pattern repeats; a file ends

	closeOnce sync.Once
	closeErr  error
}

// trackData is one track's frames and the clock their durations count in.
type trackData struct {
	frames []frame
	rate   int64 // ticks per second of frame.ticks
	total  int64 // sum of frame.ticks
}

// frame is one sample as WriteSample takes it: a whole access unit in
// Annex B framing, or one Opus packet.
type frame struct {
	data  []byte
	ticks int64 // duration in trackData.rate units
	key   bool  // video: an IDR access unit
}

// Close removes the temporary directory. It is safe to call more than once
// and must not be called while a Publish still uses the Media.
func (m *Media) Close() error {
	m.closeOnce.Do(func() { m.closeErr = os.RemoveAll(m.dir) })
	return m.closeErr
}

// Prepare encodes cfg's file or test pattern with ffmpeg into a temporary
// directory and loads the result. For a file it writes preparation progress
// to cfg.Progress; with cfg.Duration set it encodes only that much.
func Prepare(ctx context.Context, cfg Config) (*Media, error) {
	cfg, err := cfg.withDefaults()
	if err == nil {
		err = cfg.checkSource()
	}
	if err == nil {
		err = cfg.checkSizes()
	}
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "castnet-publish-")
	if err != nil {
		return nil, fmt.Errorf("publish: temp dir: %w", err)
	}
	m := &Media{dir: dir, loop: cfg.TestPattern}
	if err := m.prepare(ctx, cfg); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Media) prepare(ctx context.Context, cfg Config) error {
	args, info, err := m.encodeArgs(ctx, cfg)
	if err != nil {
		return err
	}
	cfg.Logger.Debug("preparing media", "ffmpeg", cfg.FFmpeg, "args", args)
	report := prepProgress(cfg, info.duration)
	scan := func(r io.Reader) error { return scanProgress(r, report) }
	if err := runTool(ctx, cfg.FFmpeg, args, scan); err != nil {
		return err
	}
	if err := m.load(info, cfg.FPS, videoFileNames(cfg)); err != nil {
		return err
	}
	if m.loop {
		m.trimToLoop()
	}
	return nil
}

// encodeArgs probes a file (the test pattern needs no probe) and builds the
// ffmpeg command line.
func (m *Media) encodeArgs(ctx context.Context, cfg Config) ([]string, probeInfo, error) {
	if cfg.switching() {
		info := probeInfo{hasVideo: true, hasAudio: true, duration: cfg.switchCycle()}
		return switchingArgs(cfg, m.dir), info, nil
	}
	if cfg.TestPattern {
		info := probeInfo{hasVideo: true, hasAudio: true, duration: testPatternClip}
		return testPatternArgs(cfg, m.dir), info, nil
	}
	info, err := probe(ctx, cfg.FFprobe, cfg.File)
	if err != nil {
		return nil, info, err
	}
	if !info.hasVideo && !info.hasAudio {
		return nil, info, fmt.Errorf("%w: %s", ErrNoMedia, cfg.File)
	}
	if cfg.Duration > 0 && (info.duration == 0 || cfg.Duration < info.duration) {
		info.duration = cfg.Duration
	}
	return fileArgs(cfg, m.dir, info), info, nil
}

// prepProgress returns the ffmpeg progress callback: a line per report for
// files, nothing for the short test pattern clip.
func prepProgress(cfg Config, total time.Duration) func(ffmpegProgress) {
	if cfg.Progress == nil || cfg.TestPattern {
		return nil
	}
	return func(p ffmpegProgress) {
		fmt.Fprintln(cfg.Progress, p.line(total))
	}
}

// load reads the encoded files into memory; the video files, in order,
// become one track.
func (m *Media) load(info probeInfo, fps int, videoFiles []string) error {
	if err := m.checkSize(append([]string{audioFileName}, videoFiles...)); err != nil {
		return err
	}
	if info.hasVideo {
		v, err := m.readVideos(videoFiles, fps)
		if err != nil {
			return err
		}
		m.video = v
	}
	if info.hasAudio {
		a, err := readAudio(filepath.Join(m.dir, audioFileName))
		if err != nil {
			return err
		}
		m.audio = a
	}
	if m.video == nil && m.audio == nil {
		return ErrNoMedia
	}
	return nil
}

// readVideos reads each file and splices them in order. Each starts at its
// own IDR with its parameter sets, which is where a decoder can take a new
// SPS.
func (m *Media) readVideos(names []string, fps int) (*trackData, error) {
	all := &trackData{rate: int64(fps)}
	for _, name := range names {
		v, err := readVideo(filepath.Join(m.dir, name), fps)
		if err != nil {
			return nil, err
		}
		all.frames = append(all.frames, v.frames...)
		all.total += v.total
	}
	return all, nil
}

func (m *Media) checkSize(names []string) error {
	var total int64
	for _, name := range names {
		if st, err := os.Stat(filepath.Join(m.dir, name)); err == nil {
			total += st.Size()
		}
	}
	if total > maxMediaBytes {
		return fmt.Errorf("%w: %d bytes encoded; publish less with a duration", ErrMediaTooLarge, total)
	}
	return nil
}

// trimToLoop drops trailing audio so both tracks of a looped clip last no
// longer than the video: otherwise audio would drift a little further
// from the video on every loop.
func (m *Media) trimToLoop() {
	if m.video == nil || m.audio == nil {
		return
	}
	limit := mediaTime(m.video.total, m.video.rate)
	a := m.audio
	for len(a.frames) > 0 && mediaTime(a.total, a.rate) > limit {
		a.total -= a.frames[len(a.frames)-1].ticks
		a.frames = a.frames[:len(a.frames)-1]
	}
}

// mediaTime converts ticks at rate per second to a duration without the
// overflow of ticks*time.Second.
func mediaTime(ticks, rate int64) time.Duration {
	sec, rem := ticks/rate, ticks%rate
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(rate)
}

// testPatternArgs builds the ffmpeg command line that encodes a
// testPatternClip of testsrc2 video and a beeping sine into dir.
func testPatternArgs(cfg Config, dir string) []string {
	clip := strconv.FormatFloat(testPatternClip.Seconds(), 'f', -1, 64)
	args := commonArgs()
	args = append(args,
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%s", cfg.Width, cfg.Height, cfg.FPS, clip),
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000:duration="+clip,
	)
	args = append(args, videoOutArgs(cfg, "0:v:0", filepath.Join(dir, videoFileName))...)
	return append(args, audioOutArgs("1:a:0", filepath.Join(dir, audioFileName))...)
}

// fileArgs builds the ffmpeg command line that encodes the streams info
// found in cfg.File into dir, reading at most info.duration when
// cfg.Duration asks for less than the whole file.
func fileArgs(cfg Config, dir string, info probeInfo) []string {
	args := commonArgs()
	if cfg.Duration > 0 {
		args = append(args, "-t", formatSeconds(cfg.Duration))
	}
	args = append(args, "-i", cfg.File)
	if info.hasVideo {
		args = append(args, videoOutArgs(cfg, "0:v:0", filepath.Join(dir, videoFileName))...)
	}
	if info.hasAudio {
		args = append(args, audioOutArgs("0:a:0", filepath.Join(dir, audioFileName))...)
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
func videoOutArgs(cfg Config, stream, path string) []string {
	rate := strconv.Itoa(cfg.Bitrate)
	gop := strconv.Itoa(cfg.FPS)
	return []string{"-map", stream, "-r", strconv.Itoa(cfg.FPS),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
		"-profile:v", "baseline", "-pix_fmt", "yuv420p", "-bf", "0",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-bsf:v", "h264_mp4toannexb", "-f", "h264", "-y", path}
}

// audioOutArgs encodes Opus at 48 kHz stereo in 20 ms packets. A page
// duration of one packet puts each packet on its own Ogg page, since the
// Ogg reader hands out whole pages.
func audioOutArgs(stream, path string) []string {
	return []string{"-map", stream,
		"-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "96000",
		"-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", "-y", path}
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
