package segment

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/castnet/castnet/internal/media"
)

// Write adds one access unit to the open segment, cutting a new segment
// first when the unit is an IDR past the target (or, without video, when
// the open segment has reached Target). With video, units before the first
// IDR are dropped and counted. Write never blocks on segment readers; the
// callbacks run on the caller's goroutine after the unit is written.
func (s *Segmenter) Write(au media.AccessUnit) error {
	s.mu.Lock()
	opened, request, err := s.write(au)
	s.mu.Unlock()
	if opened != nil && s.cfg.OnSegment != nil {
		s.cfg.OnSegment(opened)
	}
	if request && s.cfg.RequestKeyframe != nil {
		s.cfg.RequestKeyframe()
	}
	return err
}

// write does Write's work under s.mu and says which segment opened, if
// any, and whether to ask for a keyframe.
func (s *Segmenter) write(au media.AccessUnit) (opened *Segment, request bool, err error) {
	if s.closed {
		return nil, false, ErrClosed
	}
	if err := s.check(au); err != nil {
		return nil, false, err
	}
	if s.startsSegment(au) {
		s.finishOpen(au.PTS)
		opened = s.openSegment(au.PTS)
		if err := s.mux.WriteTables(); err != nil {
			return opened, false, err
		}
	}
	if s.open == nil {
		s.dropped.Add(1)
		return nil, s.requestDue(au.PTS), nil
	}
	if err := s.writeUnit(au); err != nil {
		return opened, false, err
	}
	s.track(au)
	if s.open.Len() > s.cfg.MaxSegmentBytes {
		s.forceFinish()
		return opened, false, nil
	}
	return opened, s.nearTarget(au.PTS) && s.requestDue(au.PTS), nil
}

// check rejects units of a kind or codec the config did not announce: the
// PMT written at each segment start could not describe them.
func (s *Segmenter) check(au media.AccessUnit) error {
	switch {
	case au.Kind == media.KindVideo && s.cfg.Video != "" && au.Codec == s.cfg.Video:
	case au.Kind == media.KindAudio && s.cfg.Audio != "" && au.Codec == s.cfg.Audio:
	default:
		return fmt.Errorf("%w: %v %q (configured video %q, audio %q)",
			ErrUnexpectedUnit, au.Kind, au.Codec, s.cfg.Video, s.cfg.Audio)
	}
	return nil
}

// startsSegment reports whether au opens a new segment. With video only an
// IDR can, once the open segment is within KeyframeLead of Target; never
// elsewhere, however long the segment grows. Without video, segments are
// cut on time.
func (s *Segmenter) startsSegment(au media.AccessUnit) bool {
	if s.cfg.Video == "" {
		return s.open == nil || au.PTS-s.open.Start >= s.cfg.Target
	}
	if au.Kind != media.KindVideo || !au.Keyframe {
		return false
	}
	return s.open == nil || au.PTS-s.open.Start >= s.cfg.Target-s.cfg.KeyframeLead
}

// openSegment starts a segment at start on the stream timeline.
func (s *Segmenter) openSegment(start time.Duration) *Segment {
	hint := 0
	if s.sink.seg != nil {
		hint = s.sink.seg.Len() + s.sink.seg.Len()/8 // most segments are alike in size
	}
	g := newSegment(s.seq, start, min(hint, 4<<20)) // a hint, not a reservation
	s.seq++
	s.open, s.sink.seg = g, g
	s.clock.requested = false
	s.segments.Add(1)
	s.log.Debug("segment opened", slog.Uint64("seq", g.Seq), slog.Duration("start", start))
	return g
}

// finishOpen finishes the open segment, if any, ending at end.
func (s *Segmenter) finishOpen(end time.Duration) {
	if s.open == nil {
		return
	}
	g := s.open
	s.open = nil
	g.finish(max(end, g.Start))
	s.log.Debug("segment finished", slog.Uint64("seq", g.Seq),
		slog.Duration("duration", g.Duration()), slog.Int("bytes", g.Len()))
}

// forceFinish ends a segment that outgrew MaxSegmentBytes.
func (s *Segmenter) forceFinish() {
	seq, n := s.open.Seq, s.open.Len()
	s.finishOpen(s.unitsEnd())
	s.forced.Add(1)
	s.log.Warn("segment over the size cap finished early; dropping units until the next IDR",
		slog.Uint64("seq", seq), slog.Int("bytes", n), slog.Int("cap", s.cfg.MaxSegmentBytes))
}

// writeUnit muxes au into the open segment. WebRTC video has no B-frames,
// so DTS equals PTS.
func (s *Segmenter) writeUnit(au media.AccessUnit) error {
	pts := au.PTS + TimestampOffset
	var err error
	if au.Kind == media.KindVideo {
		err = s.mux.WriteVideoNALUs(pts, pts, au.Keyframe, au.NALUs)
	} else {
		err = s.mux.WriteAudio(pts, au.Data)
	}
	if err != nil {
		return fmt.Errorf("segment %d: %w", s.open.Seq, err)
	}
	return nil
}

// track notes where the stream's units end, for the last segment's
// duration.
func (s *Segmenter) track(au media.AccessUnit) {
	c := &s.clock
	if au.Kind == media.KindAudio {
		d := au.Duration
		if d <= 0 {
			d = defaultAudioDuration
		}
		c.audioEnd = au.PTS + d
		return
	}
	if c.hasVideo && au.PTS > c.lastVideo {
		c.frameInterval = au.PTS - c.lastVideo
	}
	c.lastVideo, c.hasVideo = au.PTS, true
}

// unitsEnd estimates where the stream ends now: the last video frame plus
// one frame interval, or without video the end of the last audio unit.
func (s *Segmenter) unitsEnd() time.Duration {
	c := s.clock
	if s.cfg.Video == "" {
		return c.audioEnd
	}
	iv := c.frameInterval
	if iv <= 0 {
		iv = defaultFrameInterval
	}
	return c.lastVideo + iv
}

// nearTarget reports whether the open segment is close enough to Target
// that its next IDR should be asked for.
func (s *Segmenter) nearTarget(pts time.Duration) bool {
	return s.cfg.Video != "" && s.open != nil && pts-s.open.Start >= s.cfg.Target-s.cfg.KeyframeLead
}

// requestDue reports whether to call RequestKeyframe now, at most once per
// KeyframeRequestInterval of stream time, and counts the request.
func (s *Segmenter) requestDue(pts time.Duration) bool {
	c := &s.clock
	if s.cfg.Video == "" || s.cfg.RequestKeyframe == nil {
		return false
	}
	since := pts - c.lastRequest
	if c.requested && since >= 0 && since < s.cfg.KeyframeRequestInterval {
		return false
	}
	c.lastRequest, c.requested = pts, true
	s.requests.Add(1)
	return true
}

// Close finishes the open segment, ending it one frame after its last
// unit. Later Writes return ErrClosed. Close is idempotent; the Segmenter
// starts no goroutines, so there is nothing else to wait for.
func (s *Segmenter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.open != nil {
		s.finishOpen(s.unitsEnd())
	}
	// The sink keeps the last segment only to size the next one; a closed
	// Segmenter makes no more, and whoever holds it (an ended stream's
	// record) should not hold that segment's bytes too.
	s.sink.seg = nil
	// The muxer too: its buffers and the parameter sets it repeats before
	// each IDR, which point into the publisher's last keyframe.
	s.mux = nil
	return nil
}
