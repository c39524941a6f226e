package ingest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/publish"
)

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
}

func TestBareReceiverCountsWhatTheSwarmSendsAndEndsOnDelete(t *testing.T) {
	needFFmpeg(t)
	r, err := NewReceiver("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	m, err := publish.Prepare(ctx, publish.Config{TestPattern: true, Width: 320, Height: 240, FPS: 30, Bitrate: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := publish.NewSwarm(m, publish.SwarmConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.Add(ctx, srv.URL+"/whip/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, srv.URL+"/whip/b"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if st := r.Stats(); st.Streams != 2 || st.Packets < 2*2*70 || st.Lost != 0 || st.Bytes == 0 {
		t.Fatalf("after 2 s of 2 publishers: %+v", st)
	}
	s.Remove(a, true)
	if st := r.Stats(); st.Streams != 1 {
		t.Errorf("after a DELETE: %d streams, want 1", st.Streams)
	}
	sent, _ := s.Sent()
	if got := r.Stats().Packets; got > uint64(sent) {
		t.Errorf("received %d packets of %d sent", got, sent)
	}
}

func TestBareReceiverRefusesBadRequests(t *testing.T) {
	r, err := NewReceiver("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	defer r.Close()
	resp, err := http.Post(srv.URL+"/whip/x", "application/sdp", strings.NewReader("v=0 not an offer"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("garbage offer: %d, want 400", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/whip/x/nope", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE of no session: %d, want 404", resp.StatusCode)
	}
}
