// Package segment cuts a stream of access units into IDR-aligned MPEG-TS
// segments while they are being written: each Segment can be read from its
// first byte while it still grows, so a consumer (an HTTP upload to a
// transcoder) can start before the segment is complete.
package segment

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
)

// TimestampOffset is added to every PTS written into segments: the stream
// timeline starts at 0, and an audio unit a little earlier than the first
// IDR, or the PCR that runs ahead of the first frame, would otherwise fall
// below 0 and wrap to 2^33. Segment.Start and Duration stay on the stream
// timeline, without it.
const TimestampOffset = time.Second

// Defaults for Config fields left zero.
const (
	DefaultTarget                  = 2 * time.Second
	DefaultKeyframeLead            = 300 * time.Millisecond
	DefaultKeyframeRequestInterval = 500 * time.Millisecond
	DefaultMaxSegmentBytes         = 64 << 20
)

// defaultFrameInterval ends a last segment whose frame rate is unknown (a
// single frame), and defaultAudioDuration an audio unit without a Duration.
const (
	defaultFrameInterval = time.Second / 30
	defaultAudioDuration = 20 * time.Millisecond
)

// Errors the package returns, wrapped with detail.
var (
	// ErrConfig reports a Config that New cannot use.
	ErrConfig = errors.New("segment: invalid config")
	// ErrClosed reports a Write after Close.
	ErrClosed = errors.New("segment: segmenter closed")
	// ErrUnexpectedUnit reports a unit of a kind or codec the Config did not
	// announce, which the segments' PMT could not describe.
	ErrUnexpectedUnit = errors.New("segment: unit does not match the configured streams")
)

// Config configures a Segmenter.
type Config struct {
	// Target is the segment length aimed at: a segment is cut at the first
	// IDR at or after Target, less KeyframeLead (default 2s).
	Target time.Duration
	// Video is the video codec, media.CodecH264, or "" when the stream has
	// no video.
	Video media.Codec
	// Audio is the audio codec, media.CodecOpus, or "" when there is none.
	Audio media.Codec
	// AudioChannels is the Opus channel count announced in the PMT; 0 means
	// 2, which WebRTC's opus/48000/2 always negotiates.
	AudioChannels int
	// KeyframeLead is how long before Target the segmenter asks for a
	// keyframe (default 300ms, at most Target/4 by default). An IDR that
	// arrives after that point also cuts the segment: it is most likely the
	// answer to the request, and passing it over would cost the publisher a
	// second keyframe a moment later.
	KeyframeLead time.Duration
	// KeyframeRequestInterval rate-limits RequestKeyframe, in stream time,
	// while the segmenter waits for an IDR (default 500ms).
	KeyframeRequestInterval time.Duration
	// MaxSegmentBytes caps a segment; one that grows past it (a publisher
	// that never sends another IDR) is finished early and logged, and units
	// are dropped until the next IDR (default 64 MiB).
	MaxSegmentBytes int
	// RequestKeyframe is called when the open segment nears Target, and
	// while there is no open segment because no IDR has come yet, so that
	// publishers that honour PLI send an IDR on time. It is called on the
	// writer's goroutine and must not block.
	RequestKeyframe func()
	// OnSegment is called on the writer's goroutine when a segment opens,
	// after its first unit is written; the segment is still growing.
	OnSegment func(*Segment)
	// FirstSeq is the first segment's sequence number. A stream name's
	// sessions continue one numbering, so that no segment URL is ever
	// reused for other bytes.
	FirstSeq uint64
	// Logger receives segment events; nil discards them.
	Logger *slog.Logger
}

// Stats counts what a Segmenter has done.
type Stats struct {
	Segments         uint64 // segments opened
	Dropped          uint64 // units dropped while waiting for an IDR: before the first, or after a forced finish
	ForceFinished    uint64 // segments finished early at MaxSegmentBytes
	KeyframeRequests uint64 // calls of RequestKeyframe
	Bytes            uint64 // bytes written into segments
}

// Segmenter cuts access units into segments. Write and Close may be called
// from different goroutines; Write never waits for segment readers.
type Segmenter struct {
	cfg Config
	log *slog.Logger

	segments, dropped, forced, requests, bytes atomic.Uint64

	mu     sync.Mutex
	closed bool
	mux    *mpegts.Muxer
	sink   sink
	open   *Segment // nil while waiting for a segment's first unit
	seq    uint64
	clock  clock
}

// clock follows the stream's timing: where the last units end, and when
// a keyframe was last requested.
type clock struct {
	lastVideo, frameInterval time.Duration
	hasVideo                 bool
	audioEnd                 time.Duration
	lastRequest              time.Duration
	requested                bool // a request was made since the open segment began
}

// sink is where the muxer writes: the open segment.
type sink struct {
	seg   *Segment
	bytes *atomic.Uint64
}

func (k *sink) Write(p []byte) (int, error) {
	k.seg.write(p)
	k.bytes.Add(uint64(len(p)))
	return len(p), nil
}

// New returns a Segmenter for cfg.
func New(cfg Config) (*Segmenter, error) {
	if err := normalize(&cfg); err != nil {
		return nil, err
	}
	s := &Segmenter{cfg: cfg, log: cfg.Logger, seq: cfg.FirstSeq}
	s.sink.bytes = &s.bytes
	mcfg := mpegts.MuxerConfig{Video: cfg.Video != "", AudioChannels: cfg.AudioChannels}
	if cfg.Audio != "" {
		mcfg.Audio = mpegts.AudioOpus
	}
	// One muxer for the whole stream keeps continuity counters running
	// across segments, so concatenated segments read as one clean stream.
	s.mux = mpegts.NewMuxer(&s.sink, mcfg)
	return s, nil
}

// NextSeq is the sequence number the next segment would get: once the
// segmenter is closed, one past the last segment it opened.
func (s *Segmenter) NextSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// normalize validates cfg and fills in defaults.
func normalize(cfg *Config) error {
	if cfg.Video != "" && cfg.Video != media.CodecH264 {
		return fmt.Errorf("%w: video codec %q (only h264 goes into MPEG-TS here)", ErrConfig, cfg.Video)
	}
	if cfg.Audio != "" && cfg.Audio != media.CodecOpus {
		return fmt.Errorf("%w: audio codec %q", ErrConfig, cfg.Audio)
	}
	if cfg.Video == "" && cfg.Audio == "" {
		return fmt.Errorf("%w: neither video nor audio", ErrConfig)
	}
	if cfg.Target < 0 || cfg.KeyframeLead < 0 || cfg.KeyframeRequestInterval < 0 || cfg.MaxSegmentBytes < 0 {
		return fmt.Errorf("%w: negative duration or size", ErrConfig)
	}
	if cfg.Target == 0 {
		cfg.Target = DefaultTarget
	}
	if cfg.KeyframeLead == 0 {
		cfg.KeyframeLead = min(DefaultKeyframeLead, cfg.Target/4)
	}
	if cfg.KeyframeLead >= cfg.Target {
		return fmt.Errorf("%w: KeyframeLead %v not below Target %v", ErrConfig, cfg.KeyframeLead, cfg.Target)
	}
	if cfg.KeyframeRequestInterval == 0 {
		cfg.KeyframeRequestInterval = DefaultKeyframeRequestInterval
	}
	if cfg.MaxSegmentBytes == 0 {
		cfg.MaxSegmentBytes = DefaultMaxSegmentBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats returns the counters so far. It is safe to call at any time.
func (s *Segmenter) Stats() Stats {
	return Stats{
		Segments: s.segments.Load(), Dropped: s.dropped.Load(), ForceFinished: s.forced.Load(),
		KeyframeRequests: s.requests.Load(), Bytes: s.bytes.Load(),
	}
}
