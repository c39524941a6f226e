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
