package broadcaster

import (
	"testing"
	"time"
)

func TestTurnaroundQuantilesUseNearestRank(t *testing.T) {
	var tr turnarounds
	if tr.summary() != nil {
		t.Fatal("summary of nothing should be nil")
	}
	for i := 1; i <= 100; i++ {
		tr.add(time.Duration(i) * time.Millisecond)
	}
	s := tr.summary()
	if s.Segments != 100 || s.P50 != 50 || s.P95 != 95 || s.P99 != 99 || s.Max != 100 {
		t.Fatalf("got %+v", s)
	}
}

func TestTurnaroundKeepsOnlyTheRecentWindow(t *testing.T) {
	var tr turnarounds
	for range turnaroundWindow {
		tr.add(time.Second)
	}
	for range turnaroundWindow {
		tr.add(time.Millisecond)
	}
	s := tr.summary()
	if s.Segments != 2*turnaroundWindow || s.Max != 1 {
		t.Fatalf("old values should have left the window: %+v", s)
	}
}
