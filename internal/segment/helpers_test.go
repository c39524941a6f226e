package segment_test

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/segment"
)

const fps = 30

// ms is shorthand for durations in the tables.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// frameAt returns the PTS of video frame i at 30 fps.
func frameAt(i int) time.Duration { return time.Duration(i) * time.Second / fps }

// videoUnit is a synthetic H.264 access unit: an IDR with SPS and PPS, or
// a P slice. The NAL payloads are filler; cut logic does not decode them.
func videoUnit(pts time.Duration, idr bool, size int) media.AccessUnit {
	au := media.AccessUnit{Kind: media.KindVideo, Codec: media.CodecH264, PTS: pts, Keyframe: idr}
	slice := append([]byte{0x41}, bytes.Repeat([]byte{0x9A}, size)...)
	if idr {
		slice[0] = 0x65
		au.NALUs = [][]byte{{0x67, 0x42, 0xC0, 0x1E}, {0x68, 0xCE, 0x3C, 0x80}}
	}
	au.NALUs = append(au.NALUs, slice)
	return au
}

func audioUnit(pts time.Duration) media.AccessUnit {
	return media.AccessUnit{Kind: media.KindAudio, Codec: media.CodecOpus, PTS: pts,
		Data: []byte{0xFC, 0xFF, 0xFE}, Duration: ms(20)}
}

// videoStream returns frames from 0 up to (not including) end, with an IDR
// at each listed time.
func videoStream(end time.Duration, idrs ...time.Duration) []media.AccessUnit {
	var aus []media.AccessUnit
	for i := 0; frameAt(i) < end; i++ {
		aus = append(aus, videoUnit(frameAt(i), slices.Contains(idrs, frameAt(i)), 200))
	}
	return aus
}

// every returns the times 0, step, 2·step… below end.
func every(step, end time.Duration) []time.Duration {
	var out []time.Duration
	for t := time.Duration(0); t < end; t += step {
		out = append(out, t)
	}
	return out
}

// audioStream returns 20 ms Opus units from 0 up to end.
func audioStream(end time.Duration) []media.AccessUnit {
	var aus []media.AccessUnit
	for t := time.Duration(0); t < end; t += ms(20) {
		aus = append(aus, audioUnit(t))
	}
	return aus
}

// interleave merges two PTS-ordered streams by PTS, video first on ties.
func interleave(a, b []media.AccessUnit) []media.AccessUnit {
	out := make([]media.AccessUnit, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && a[0].PTS <= b[0].PTS) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// recorder collects the segments a Segmenter opens.
type recorder struct {
	mu   sync.Mutex
	segs []*segment.Segment
}

func (r *recorder) onSegment(g *segment.Segment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.segs = append(r.segs, g)
}

func (r *recorder) segments() []*segment.Segment {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.segs)
}

// run writes aus into a new Segmenter built from cfg, closes it and returns
// the segments and stats.
func run(t *testing.T, cfg segment.Config, aus []media.AccessUnit) ([]*segment.Segment, segment.Stats) {
	t.Helper()
	var rec recorder
	cfg.OnSegment = rec.onSegment
	s, err := segment.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range aus {
		if err := s.Write(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.segments(), s.Stats()
}
