package broadcaster

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
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

func TestTurnaroundRecentListsTheWindowOldestFirst(t *testing.T) {
	var tr turnarounds
	if got := tr.recentMS(); len(got) != 0 {
		t.Fatalf("nothing measured: got %v", got)
	}
	for i := 1; i <= turnaroundWindow+3; i++ {
		tr.add(time.Duration(i) * time.Millisecond)
	}
	got := tr.recentMS()
	if len(got) != turnaroundWindow || got[0] != 4 || got[len(got)-1] != turnaroundWindow+3 {
		t.Fatalf("want 4 .. %d ms, got %d values %v .. %v", turnaroundWindow+3, len(got), got[0], got[len(got)-1])
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("out of order at %d: %v then %v", i, got[i-1], got[i])
		}
	}
}

func TestStreamAPIListsTurnaroundsOnlyWhenAsked(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	in := h.feed(t, "ta", 4)
	srv := httptest.NewServer(h.b.Handler())
	defer srv.Close()
	get := func(query string) StreamInfo {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/streams/ta" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got StreamInfo
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if plain := get(""); plain.Turnarounds != nil || plain.Turnaround == nil {
		t.Fatalf("plain request: want the summary and no list, got %+v / %v", plain.Turnaround, plain.Turnarounds)
	}
	got := get("?turnarounds=1")
	if uint64(len(got.Turnarounds)) != in.Published || in.Published == 0 {
		t.Fatalf("want %d turnarounds, got %v", in.Published, got.Turnarounds)
	}
	if m := slices.Max(got.Turnarounds); m != got.Turnaround.Max {
		t.Fatalf("list max %v disagrees with the summary's %v", m, got.Turnaround.Max)
	}
}
