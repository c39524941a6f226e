package segment_test

import (
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/castnet/castnet/internal/segment"
)

// An ended stream keeps its Segmenter for its record; the closed Segmenter
// must not keep its last segment's bytes alive with it (the soak bench
// found ~200 KB held per ended stream).
func TestClosedSegmenterReleasesItsLastSegment(t *testing.T) {
	var last weak.Pointer[segment.Segment]
	cfg := videoOnly
	cfg.OnSegment = func(g *segment.Segment) { last = weak.Make(g) }
	s, err := segment.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range videoStream(ms(5000), every(time.Second, ms(5000))...) {
		if err := s.Write(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	if last.Value() != nil {
		t.Error("the closed Segmenter still holds its last segment")
	}
	runtime.KeepAlive(s)
}

// Nor may it keep the units it was given: the parameter sets of the last
// keyframe point into the depacketizer's frame buffer.
func TestClosedSegmenterReleasesTheUnitsItWasGiven(t *testing.T) {
	s, err := segment.New(videoOnly)
	if err != nil {
		t.Fatal(err)
	}
	var held weak.Pointer[[64 << 10]byte]
	for i, au := range videoStream(ms(3000), every(time.Second, ms(3000))...) {
		if au.Keyframe {
			frame := new([64 << 10]byte) // as a depacketizer's buffer, SPS and PPS inside it
			copy(frame[:], au.NALUs[0])
			copy(frame[100:], au.NALUs[1])
			au.NALUs[0], au.NALUs[1] = frame[:len(au.NALUs[0])], frame[100:100+len(au.NALUs[1])]
			if i > 0 {
				held = weak.Make(frame)
			}
		}
		if err := s.Write(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	if held.Value() != nil {
		t.Error("the closed Segmenter still holds its last keyframe's buffer")
	}
	runtime.KeepAlive(s)
}
