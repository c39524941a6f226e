package netpool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/transcode"
)

// Tolerances of the media check. Renditions keep the input's timestamps
// (transcode.Rendition), so only encoder frame-rate changes and rounding
// separate them from the source.
const (
	minSpanSlack   = 250 * time.Millisecond
	spanSlackRatio = 0.10
	maxStartDrift  = 100 * time.Millisecond
	// frameSlack is the frames an encoder's fps filter may add at the
	// segment's ends.
	frameSlack = 2
)

// ptsWrap is the period of the 33-bit 90 kHz clock.
var ptsWrap = mpegts.TicksToDuration(1 << 33)

// videoSpan is the timing of a segment's video.
type videoSpan struct {
	frames  int           // video PES packets with a PTS
	first   time.Duration // earliest PTS, a 33-bit value as read
	span    time.Duration // latest − earliest PTS + one frame
	repeats int           // frames whose PTS an earlier frame already had
}

// readVideoSpan demuxes a segment and measures its video. With strict,
// any damage the demuxer reports is an error (an encoder's fresh output
// has none); without, damaged data is skipped.
func readVideoSpan(r io.Reader, strict bool) (videoSpan, error) {
	d := mpegts.NewDemuxer(r)
	var first time.Duration
	var rel []time.Duration // PTS relative to the first seen, unwrapped
	for {
		pes, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if strict || !isDamage(err) {
				return videoSpan{}, err
			}
			continue
		}
		if pes.Codec != media.CodecH264 || !pes.HasPTS {
			continue
		}
		if len(rel) == 0 {
			first = pes.PTS
		}
		rel = append(rel, ptsDiff(pes.PTS, first))
	}
	return spanOf(first, rel), nil
}

func isDamage(err error) bool {
	return errors.Is(err, mpegts.ErrSync) || errors.Is(err, mpegts.ErrCorrupt) || errors.Is(err, mpegts.ErrTooLarge)
}

// spanOf measures PTS values given relative to first. One frame is the
// smallest gap between distinct PTS values (frames may come out of order).
func spanOf(first time.Duration, rel []time.Duration) videoSpan {
	if len(rel) == 0 {
		return videoSpan{}
	}
	slices.Sort(rel)
	frame := time.Duration(0)
	for i := 1; i < len(rel); i++ {
		if g := rel[i] - rel[i-1]; g > 0 && (frame == 0 || g < frame) {
			frame = g
		}
	}
	repeats := 0
	for i := 1; i < len(rel); i++ {
		if rel[i] == rel[i-1] {
			repeats++
		}
	}
	lo, hi := rel[0], rel[len(rel)-1]
	return videoSpan{frames: len(rel), first: wrapPTS(first + lo), span: hi - lo + frame, repeats: repeats}
}

// ptsDiff is a − b on the 33-bit clock, in (−wrap/2, wrap/2].
func ptsDiff(a, b time.Duration) time.Duration {
	d := (a - b) % ptsWrap
	switch {
	case d > ptsWrap/2:
		d -= ptsWrap
	case d <= -ptsWrap/2:
		d += ptsWrap
	}
	return d
}

func wrapPTS(d time.Duration) time.Duration {
	d %= ptsWrap
	if d < 0 {
		d += ptsWrap
	}
	return d
}

// checkMedia rejects renditions whose video does not demux cleanly, has no
// timestamped frame, shows a timestamp twice, or — when the source's span
// is known and has video — starts more than 100 ms away from the source or
// lasts a different time, beyond max(250 ms, 10 %) of the source's span;
// and transcoded renditions whose pictures are not what job asked for
// (checkPicture).
func checkMedia(job transcode.Job, rends []transcode.Rendition, src *videoSpan) error {
	for _, r := range rends {
		got, err := readVideoSpan(bytes.NewReader(r.Data), true)
		if err != nil {
			return fmt.Errorf("rendition %s does not demux: %w", r.Profile.Name, err)
		}
		if err := compareSpan(got, src); err != nil {
			return fmt.Errorf("rendition %s: %w", r.Profile.Name, err)
		}
		if r.Profile.IsSource() {
			continue // the publisher's own video, remuxed
		}
		if err := checkPicture(job, r, spanFor(got, src)); err != nil {
			return fmt.Errorf("rendition %s: %w", r.Profile.Name, err)
		}
	}
	return nil
}

// compareSpan holds one rendition's video against the source's.
func compareSpan(got videoSpan, src *videoSpan) error {
	if got.frames == 0 {
		return errors.New("no video frame with a timestamp")
	}
	allowed := 0 // a source's own repeats carry over to its remux
	if src != nil {
		allowed = src.repeats
	}
	if got.repeats > allowed {
		return fmt.Errorf("%d of its %d frames repeat a timestamp", got.repeats, got.frames)
	}
	if src == nil || src.frames == 0 {
		return nil
	}
	if d := ptsDiff(got.first, src.first); d.Abs() > maxStartDrift {
		return fmt.Errorf("video starts at PTS %v, the source at %v", got.first, src.first)
	}
	slack := spanSlack(src.span)
	if (got.span - src.span).Abs() > slack {
		return fmt.Errorf("video lasts %v, the source %v", got.span, src.span)
	}
	return nil
}

// spanSlack is how far a rendition's span may stray from a span of d.
func spanSlack(d time.Duration) time.Duration {
	return max(minSpanSlack, time.Duration(float64(d)*spanSlackRatio))
}

// spanFor is the span a rendition is held to: the source's when known, its
// own (already held near the source's) otherwise.
func spanFor(got videoSpan, src *videoSpan) time.Duration {
	if src != nil && src.frames > 0 {
		return src.span
	}
	return got.span
}

// checkPicture holds a transcoded rendition's pictures, read from its own
// bytes (its SPS, not the declared Castnet-Size), to what job asked: every
// SPS at the profile's FitSize, timestamps strictly increasing (the encoder
// makes no B-frames: a frame sent twice goes back in time), and no more
// frames than the profile's rate gives over span. An orchestrator that
// glues a segment to itself, or forges an SPS, is refused here.
func checkPicture(job transcode.Job, r transcode.Rendition, span time.Duration) error {
	pic, err := mpegts.MeasureH264(r.Data)
	if err != nil {
		return err
	}
	w, h := transcode.FitSize(r.Profile, job.SourceWidth, job.SourceHeight)
	limit := int(float64(r.Profile.FPS)*(span+spanSlack(span)).Seconds()) + frameSlack
	switch {
	case pic.Width != w || pic.Height != h:
		return fmt.Errorf("its SPS says %dx%d, want %dx%d", pic.Width, pic.Height, w, h)
	case pic.Resized():
		return fmt.Errorf("an SPS switches it to %dx%d mid-segment, want %dx%d", pic.OtherWidth, pic.OtherHeight, w, h)
	case pic.Unordered > 0:
		return fmt.Errorf("%d of its %d frames repeat or go back in time", pic.Unordered, pic.Frames)
	case pic.Frames > limit:
		return fmt.Errorf("%d frames, above the %d that %d fps over %v allows", pic.Frames, limit, r.Profile.FPS, span)
	}
	return nil
}

// sourceSpan measures the job's source once, lazily: only an answer to
// check needs it, and by then the segment is complete (the orchestrator
// read it to its end). Without Reopen there is nothing to measure, and only
// the renditions' own soundness is checked.
type sourceSpan struct {
	job  transcode.Job
	once sync.Once
	span *videoSpan
}

func (s *sourceSpan) get() *videoSpan {
	s.once.Do(func() {
		if s.job.Reopen == nil {
			return
		}
		r := s.job.Reopen()
		if c, ok := r.(io.Closer); ok {
			defer c.Close()
		}
		// A source we cannot read says nothing about the orchestrator.
		if v, err := readVideoSpan(r, false); err == nil {
			s.span = &v
		}
	})
	return s.span
}
