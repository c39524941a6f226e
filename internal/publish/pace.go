package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"
)

// sampleWriter is the part of a pion track the pacer uses.
type sampleWriter interface {
	WriteSample(media.Sample) error
}

// pacedTrack walks one track's frames, looping when asked, and knows the
// media time at which its next frame is due.
type pacedTrack struct {
	data  *trackData
	w     sampleWriter
	next  int   // index of the next frame
	ticks int64 // media time of the next frame, in data.rate units
	sent  int64 // frames written
}

// at is the media time of the next frame. Counting whole ticks since the
// start, rather than adding rounded frame durations, keeps the schedule
// free of drift however long it runs.
func (t *pacedTrack) at() time.Duration { return mediaTime(t.ticks, t.data.rate) }

// write sends the next frame and advances. The sample duration is the
// difference of two exact media times so the RTP timestamps pion derives
// from it add up without drift too.
func (t *pacedTrack) write(loop bool) error {
	f := t.data.frames[t.next]
	start := t.at()
	t.ticks += f.ticks
	if err := t.w.WriteSample(media.Sample{Data: f.data, Duration: t.at() - start}); err != nil {
		return err
	}
	t.sent++
	t.next++
	if loop && t.next == len(t.data.frames) {
		t.next = 0
	}
	return nil
}

func (t *pacedTrack) finished(limit time.Duration) bool {
	return t.next >= len(t.data.frames) || (limit > 0 && t.at() >= limit)
}

// pacer sends every track's frames at start plus their media time, on the
// monotonic clock, in one goroutine: a load generator runs many of them.
type pacer struct {
	video, audio *pacedTrack // nil when absent
	loop         bool
	limit        time.Duration // 0: no limit
	start        time.Time
	report       func(elapsed time.Duration) // nil: no progress lines
}

func (s *session) pacer(start time.Time) *pacer {
	p := &pacer{loop: s.media.loop, limit: s.cfg.Duration, start: start}
	if s.media.video != nil {
		p.video = &pacedTrack{data: s.media.video, w: s.peer.video}
	}
	if s.media.audio != nil {
		p.audio = &pacedTrack{data: s.media.audio, w: s.peer.audio}
	}
	if s.cfg.Progress != nil {
		p.report = s.progressLine(s.cfg.Progress)
	}
	return p
}

// due returns the track whose next frame comes first, nil when all are done.
func (p *pacer) due() *pacedTrack {
	var first *pacedTrack
	for _, t := range []*pacedTrack{p.video, p.audio} {
		if t == nil || t.finished(p.limit) {
			continue
		}
		if first == nil || t.at() < first.at() {
			first = t
		}
	}
	return first
}

// errOver is the pacer's word for "the session's over channel closed".
var errOver = errors.New("publish: session over")

// run sends until every track is done, ctx ends (its error is returned) or
// over closes (errOver). Late frames go out at once, so a stall is caught
// up rather than shifting the rest of the stream.
func (p *pacer) run(ctx context.Context, over <-chan struct{}) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nextReport := time.Second
	for {
		t := p.due()
		if t == nil {
			// Let the last frames play out, so that a publish of D
			// lasts D.
			return p.wait(ctx, over, timer, p.end())
		}
		if p.report != nil && nextReport <= t.at() {
			if err := p.wait(ctx, over, timer, nextReport); err != nil {
				return err
			}
			p.report(nextReport)
			nextReport += time.Second
			continue
		}
		if err := p.wait(ctx, over, timer, t.at()); err != nil {
			return err
		}
		if err := t.write(p.loop); err != nil {
			return fmt.Errorf("publish: write sample: %w", err)
		}
	}
}

// end is the media time at which the frames sent so far have played out.
func (p *pacer) end() time.Duration {
	var end time.Duration
	for _, t := range []*pacedTrack{p.video, p.audio} {
		if t != nil {
			end = max(end, t.at())
		}
	}
	return end
}

// wait sleeps until start+at.
func (p *pacer) wait(ctx context.Context, over <-chan struct{}, timer *time.Timer, at time.Duration) error {
	d := time.Until(p.start.Add(at))
	if d <= 0 {
		select {
		case <-over:
			return errOver
		default:
			return ctx.Err()
		}
	}
	timer.Reset(d)
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-over:
		return errOver
	}
}

// progressLine returns the once-a-second reporter:
// "elapsed 00:12  sent 2.41 Mbps  packets 12345  state connected".
func (s *session) progressLine(w io.Writer) func(time.Duration) {
	var lastBytes int64
	last := time.Now()
	return func(elapsed time.Duration) {
		now, bytes := time.Now(), s.peer.count.bytes.Load()
		secs := now.Sub(last).Seconds()
		mbps := 0.0
		if secs > 0 {
			mbps = float64(bytes-lastBytes) * 8 / secs / 1e6
		}
		lastBytes, last = bytes, now
		fmt.Fprintf(w, "elapsed %s  sent %.2f Mbps  packets %d  state %s\n",
			clock(elapsed), mbps, s.peer.count.packets.Load(), s.peer.pc.ConnectionState())
	}
}
