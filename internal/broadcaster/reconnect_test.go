package broadcaster

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
)

// publishAs publishes seconds of real H.264 under name as owner, then ends
// the session for reason, and waits until the stream has ended.
func (h *pipelineHarness) publishAs(t *testing.T, name, id, owner string, seconds float64, reason error) StreamInfo {
	t.Helper()
	units := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: seconds, FPS: 30})
	sink, err := h.b.StartStream(context.Background(), whip.Publish{Stream: name, Session: id, Owner: owner,
		Video: media.CodecH264, RequestKeyframe: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range units {
		sink.WriteAccessUnit(au)
	}
	sink.Close(reason)
	st := sink.(*Stream)
	select {
	case <-st.drained:
	case <-time.After(20 * time.Second):
		t.Fatalf("session %s never finished", id)
	}
	return st.Info()
}

// TestReconnectContinuesThePlaylists: a session that ends interrupted
// (no media) and its publisher's next session make one playlist, with
// one discontinuity between them, numbers running on, and no archive.
func TestReconnectContinuesThePlaylists(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	first := h.publishAs(t, "cam", "s1", "", 3, whip.ErrMediaTimeout)
	if pl := playlist(t, h.dir, "cam", "source"); strings.Contains(pl, "ENDLIST") {
		t.Fatalf("an interrupted session ended its playlist at once:\n%s", pl)
	}
	second := h.publishAs(t, "cam", "s2", "", 3, nil)
	pl := playlist(t, h.dir, "cam", "source")
	if strings.Count(pl, "#EXT-X-DISCONTINUITY\n") != 1 || !strings.Contains(pl, "#EXT-X-ENDLIST") {
		t.Errorf("want one playlist, one discontinuity, ended:\n%s", pl)
	}
	n := first.Published + second.Published
	for seq := range n {
		if !strings.Contains(pl, "\n"+itoa(seq)+".ts\n") {
			t.Errorf("segment %d missing from the continued playlist:\n%s", seq, pl)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(h.dir), "archive", "cam")); !os.IsNotExist(err) {
		t.Errorf("the first session was archived (%v): it should have been continued", err)
	}
}

// TestAnotherPublisherDoesNotContinue: within the grace, a session of
// another owner ends the held playlists and starts its own.
func TestAnotherPublisherDoesNotContinue(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	h.publishAs(t, "cam", "s1", "alice", 3, whip.ErrConnectionFailed)
	h.publishAs(t, "cam", "s2", "mallory", 2, nil)
	if pl := playlist(t, h.dir, "cam", "source"); strings.Contains(pl, "DISCONTINUITY") {
		t.Errorf("mallory's session continued alice's playlist:\n%s", pl)
	}
	archived, _ := filepath.Glob(filepath.Join(filepath.Dir(h.dir), "archive", "cam", "*", "source", "index.m3u8"))
	if len(archived) != 1 {
		t.Fatalf("archived sessions %v, want alice's", archived)
	}
	if b, _ := os.ReadFile(archived[0]); !strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Errorf("alice's archived playlist did not end:\n%s", b)
	}
}

// TestNobodyComesBackPlaylistsEnd: without a reconnect the held playlists
// end once the grace is over; a session ended on purpose ends at once.
func TestNobodyComesBackPlaylistsEnd(t *testing.T) {
	h := newPipelineConfig(t, &fakeTranscoder{fn: echo}, func(c *Config) { c.ReconnectGrace = 300 * time.Millisecond })
	h.publishAs(t, "gone", "s1", "", 2, whip.ErrMediaTimeout)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(playlist(t, h.dir, "gone", "source"), "ENDLIST"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held playlists never ended")
		}
	}
	h.publishAs(t, "done", "s1", "", 2, nil)
	if pl := playlist(t, h.dir, "done", "source"); !strings.Contains(pl, "ENDLIST") {
		t.Errorf("a session ended by DELETE did not end its playlist at once:\n%s", pl)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestEndingStreamReplacedMeanwhileIsNotHeld: a stream that ends
// interrupted after a newer session of its name already started (between
// its last segment and this decision) ends its playlists at once: held,
// a later reconnect would continue playlists the newer session archived.
func TestEndingStreamReplacedMeanwhileIsNotHeld(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	old := &Stream{b: h.b, log: h.b.log, pub: whip.Publish{Stream: "cam"}, closeReason: whip.ErrMediaTimeout}
	newer := &Stream{b: h.b, pub: whip.Publish{Stream: "cam"}}
	h.b.mu.Lock()
	h.b.streams["cam"] = newer
	h.b.mu.Unlock()
	hs, err := h.store.Open("cam", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !h.b.afterLast(old, hs) {
		t.Error("a replaced stream's playlists were held for a reconnect")
	}
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	if len(h.b.held) != 0 {
		t.Errorf("held %v", h.b.held)
	}
}
