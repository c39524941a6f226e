package dispatch_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
	"github.com/castnet/castnet/internal/transcode/transcodetest"
	"github.com/castnet/castnet/internal/transcoder"
)

// TestMain fails the run if a session, job or copier goroutine outlives its
// test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "s3cret"

// ladder is the source plus one rung below a 320x240 source.
var ladder = transcode.Ladder([]transcode.Profile{{Name: "120p", Width: 160, Height: 120, Bitrate: 100_000, FPS: 30}}, 320, 240)

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newPool serves a Pool on 127.0.0.1; both are closed when the test ends.
func newPool(t *testing.T, cfg dispatch.Config) (*dispatch.Pool, *httptest.Server) {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 100 * time.Millisecond
	}
	cfg.Logger = testLogger(t)
	p, err := dispatch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { p.Close() }) // runs first: ends the sessions srv.Close waits for
	return p, srv
}

// job is a Transcode job for a 320x240 segment.
func job(seq uint64, input io.Reader) transcode.Job {
	return transcode.Job{Stream: "cam", Seq: seq, Input: input, Profiles: ladder, SourceWidth: 320, SourceHeight: 240}
}

// transcoderFunc adapts a function to transcode.Transcoder.
type transcoderFunc = transcode.Func

// echo "transcodes" by returning the input, whole, as every rendition.
var echo = transcodetest.Echo

// startNode runs a real transcoder node against srv until the test ends,
// and waits until the pool counts its slots.
func startNode(t *testing.T, p *dispatch.Pool, srv *httptest.Server, tr transcode.Transcoder, capacity int) *transcoder.Node {
	t.Helper()
	before := p.Capacity()
	n, err := transcoder.New(transcoder.Config{OrchestratorURL: srv.URL, Secret: secret, Capacity: capacity,
		Name: "real", Transcoder: tr, HTTP: srv.Client(), Logger: testLogger(t).With("node", "real")})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(context.Background()) }()
	t.Cleanup(func() {
		n.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, "the node to register", func() bool { return p.Capacity() == before+capacity })
	return n
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeT is a scripted transcoder speaking raw HTTP, for the misbehaviours a
// real node never commits.
type fakeT struct {
	t      *testing.T
	srv    *httptest.Server
	cancel context.CancelFunc
	body   io.ReadCloser
	events *remote.EventReader
	hello  remote.Event
}

// connectFake opens a session offering capacity slots and reads the hello.
func connectFake(t *testing.T, srv *httptest.Server, capacity int) *fakeT {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q := remote.SessionParams{Capacity: capacity, Name: "fake"}.Encode()
	resp := do(t, srv, ctx, "GET", remote.SessionPath+"?"+q, secret, "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("session: %d", resp.StatusCode)
	}
	f := &fakeT{t: t, srv: srv, cancel: cancel, body: resp.Body, events: remote.NewEventReader(resp.Body)}
	t.Cleanup(f.drop)
	f.hello = f.next(remote.EventHello)
	return f
}

// next reads events, skipping pings, until one of type kind.
func (f *fakeT) next(kind string) remote.Event {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ev, err := f.events.Next()
		if err != nil {
			f.t.Fatalf("waiting for %s: %v", kind, err)
		}
		if ev.Type == kind {
			return ev
		}
		if ev.Type != remote.EventPing {
			f.t.Fatalf("got %s while waiting for %s", ev.Type, kind)
		}
	}
	f.t.Fatalf("no %s in 5 s", kind)
	return remote.Event{}
}

// ended reports whether the orchestrator ended the session (pings aside).
func (f *fakeT) ended() bool {
	for {
		ev, err := f.events.Next()
		if err != nil {
			return true
		}
		if ev.Type != remote.EventPing {
			return false
		}
	}
}

// drop closes the session's connection, as a crashed transcoder would.
func (f *fakeT) drop() {
	f.cancel()
	f.body.Close()
}

// readInput fetches job id's input and reads at least n bytes of it.
func (f *fakeT) readInput(id string, n int) (io.ReadCloser, []byte) {
	f.t.Helper()
	resp := do(f.t, f.srv, context.Background(), "GET", remote.JobInputPath(id), secret, "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("input: %d", resp.StatusCode)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		f.t.Fatalf("reading input: %v", err)
	}
	return resp.Body, buf
}

// post sends a result or failure for job id and returns the status.
func (f *fakeT) post(path, contentType string, body []byte, hdr http.Header) int {
	f.t.Helper()
	resp := do(f.t, f.srv, context.Background(), "POST", path, secret, contentType, bytes.NewReader(body), hdr)
	resp.Body.Close()
	return resp.StatusCode
}

// do sends a request with the given bearer secret ("" for none).
func do(t *testing.T, srv *httptest.Server, ctx context.Context, method, path, bearer, contentType string, body io.Reader, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// result is what a Transcode call in the background returned.
type result struct {
	rends []transcode.Rendition
	err   error
	at    time.Time
}

// transcodeAsync runs p.Transcode in the background.
func transcodeAsync(ctx context.Context, p *dispatch.Pool, j transcode.Job) <-chan result {
	ch := make(chan result, 1)
	go func() {
		rends, err := p.Transcode(ctx, j)
		ch <- result{rends, err, time.Now()}
	}()
	return ch
}

// await waits up to 10 s for a background Transcode.
func await(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Transcode did not return in 10 s")
		return result{}
	}
}

// closeTracker is an input that records being closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

// segment returns n bytes of recognisable fake media.
func segment(n int) []byte { return []byte(strings.Repeat("0123456789abcdef", n/16+1)[:n]) }

// growingInput serves data[:split] at once and the rest only after
// release, like a segment still being cut by the broadcaster.
func growingInput(t *testing.T, data []byte, split int) (in io.Reader, release func()) {
	pr, pw := io.Pipe()
	resume := make(chan struct{})
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			close(resume)
		}
	}
	go func() {
		if _, err := pw.Write(data[:split]); err != nil {
			return
		}
		<-resume
		if _, err := pw.Write(data[split:]); err != nil {
			return
		}
		pw.Close()
	}()
	t.Cleanup(func() {
		pw.CloseWithError(errors.New("test over")) // unblocks a Write nobody reads
		release()
	})
	return pr, release
}
