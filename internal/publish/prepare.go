package publish

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"time"
)

// maxMediaBytes bounds the encoded media Prepare loads into memory, where
// every publisher sharing it reads without copying. Longer inputs can be
// shortened with Config.Duration.
const maxMediaBytes = 1 << 30

// testPatternClip is how much test pattern Prepare encodes; Publish loops
// it. Whole seconds keep the loop point on an IDR.
const testPatternClip = 10 * time.Second

// Media is encoded media ready to publish: H.264 access units and Opus
// packets held in memory, shared read-only by any number of Publish calls.
type Media struct {
	video *trackData // nil when the input has no video
	audio *trackData // nil when the input has no audio
	loop  bool       // the test pattern repeats; a file ends
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

// Close releases the Media. A Media is only memory (ffmpeg's output
// streams in over pipes; see outputPipes), so there is nothing to free
// and Close returns nil; callers keep calling it so that the Media may
// hold more one day without their changing.
func (m *Media) Close() error { return nil }

// Prepare encodes cfg's file or test pattern with ffmpeg, reading the
// encoded streams from pipes straight into memory: it writes no files.
// For a file it writes preparation progress to cfg.Progress; with
// cfg.Duration set it encodes only that much.
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
	m := &Media{loop: cfg.TestPattern}
	if err := m.prepare(ctx, cfg); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Media) prepare(ctx context.Context, cfg Config) error {
	args, info, err := encodeArgs(ctx, cfg)
	if err != nil {
		return err
	}
	cfg.Logger.Debug("preparing media", "ffmpeg", cfg.FFmpeg, "args", args)
	report := prepProgress(cfg, info.duration)
	scan := func(r io.Reader) error { return scanProgress(r, report) }
	videos := make([]*trackData, videoOutputs(cfg, info))
	readers := m.readers(videos, info.hasAudio, cfg.FPS)
	if err := runTool(ctx, cfg.FFmpeg, args, scan, readers...); err != nil {
		return err
	}
	if len(videos) > 0 {
		m.video = splice(videos, cfg.FPS)
	}
	if m.loop {
		m.trimToLoop()
	}
	return nil
}

// readers returns one reader per ffmpeg output, in pipe order: the video
// pieces into videos, then the audio into m. They share one byte budget.
func (m *Media) readers(videos []*trackData, audio bool, fps int) []func(io.Reader) error {
	budget := newByteBudget(maxMediaBytes)
	var read []func(io.Reader) error
	for i := range videos {
		read = append(read, func(r io.Reader) (err error) {
			videos[i], err = readVideo(budget.wrap(r), fps)
			return cmp.Or(budget.err(), err)
		})
	}
	if audio {
		read = append(read, func(r io.Reader) (err error) {
			m.audio, err = readAudio(budget.wrap(r))
			return cmp.Or(budget.err(), err)
		})
	}
	return read
}

// encodeArgs probes a file (the test pattern needs no probe) and builds the
// ffmpeg command line.
func encodeArgs(ctx context.Context, cfg Config) ([]string, probeInfo, error) {
	if cfg.switching() {
		info := probeInfo{hasVideo: true, hasAudio: true, duration: cfg.switchCycle()}
		return switchingArgs(cfg), info, nil
	}
	if cfg.TestPattern {
		info := probeInfo{hasVideo: true, hasAudio: true, duration: testPatternClip}
		return testPatternArgs(cfg), info, nil
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
	return fileArgs(cfg, info), info, nil
}

// videoOutputs is how many video streams ffmpeg writes: one per size of a
// switching pattern, else one if there is video.
func videoOutputs(cfg Config, info probeInfo) int {
	switch {
	case !info.hasVideo:
		return 0
	case cfg.switching():
		return len(cfg.Sizes)
	}
	return 1
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

// splice joins the video pieces in order. Each starts at its own IDR with
// its parameter sets, which is where a decoder can take a new SPS.
func splice(pieces []*trackData, fps int) *trackData {
	all := &trackData{rate: int64(fps)}
	for _, v := range pieces {
		all.frames = append(all.frames, v.frames...)
		all.total += v.total
	}
	return all
}

// duration is how long the media plays once: its longer track.
func (m *Media) duration() time.Duration {
	var d time.Duration
	for _, t := range []*trackData{m.video, m.audio} {
		if t != nil {
			d = max(d, mediaTime(t.total, t.rate))
		}
	}
	return d
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
