package broadcaster

import (
	"testing"
	"time"

	"github.com/castnet/castnet/internal/playback/hls"
)

// TestRestartListsStoredStreamsAsRecovered: after a restart the API knows
// the streams HLS serves from disk, as ended and recovered, and a new
// session of one of them numbers its segments after the stored ones.
func TestRestartListsStoredStreamsAsRecovered(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	before := h.feed(t, "kept", 3)
	if err := h.b.Close(); err != nil {
		t.Fatal(err)
	}
	// The node restarts: a new store and broadcaster over the same files.
	store, err := hls.New(hls.Config{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Transcoder: &fakeTranscoder{fn: echo}, Store: store, Segment: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(); _ = store.Close() })
	in, err := b.Stream("kept")
	if err != nil {
		t.Fatalf("GET /api/streams/kept after a restart: %v", err)
	}
	if !in.Recovered || in.State != StateEnded || in.Published != before.Published || len(in.Renditions) == 0 {
		t.Errorf("recovered record %+v, want ended, recovered, %d segments, renditions", in, before.Published)
	}
	if p, _ := b.List("", 10); len(p.Streams) != 1 || !p.Streams[0].Recovered {
		t.Errorf("list after restart: %+v", p.Streams)
	}
	b.mu.Lock()
	got := b.firstSeqLocked("kept")
	b.mu.Unlock()
	if want := before.Published; got != want {
		t.Errorf("a new session would start at seq %d, want %d", got, want)
	}
}

// TestLongEndedStreamIsStillFoundByName: a stored stream that ended long
// before the restart is not listed (EndedTTL bounds the list) but its own
// record answers, as its HLS does.
func TestLongEndedStreamIsStillFoundByName(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	h.feed(t, "old", 2)
	_ = h.b.Close()
	store, err := hls.New(hls.Config{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(DefaultEndedTTL + time.Hour) }
	b, err := New(Config{Transcoder: &fakeTranscoder{fn: echo}, Store: store, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(); _ = store.Close() })
	if p, _ := b.List("", 10); len(p.Streams) != 0 {
		t.Errorf("a stream ended past EndedTTL is listed: %+v", p.Streams)
	}
	if in, err := b.Stream("old"); err != nil || !in.Recovered {
		t.Errorf("Stream(old) = %+v, %v; want its recovered record", in, err)
	}
	if _, err := b.Stream("never"); err == nil {
		t.Error("a name never published has a record")
	}
}
