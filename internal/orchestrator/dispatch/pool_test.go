package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/transcode/remote"
)

func TestNewNeedsASecret(t *testing.T) {
	if _, err := dispatch.New(dispatch.Config{}); err == nil {
		t.Fatal("a pool anyone could join was built")
	}
}

// TestWrongSecretIsRefusedEverywhere: every transcoder endpoint answers a
// missing or wrong secret with 401 and says which, before anything else.
func TestWrongSecretIsRefusedEverywhere(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{})
	id := strings.Repeat("ab", 16)
	endpoints := []struct{ method, path string }{
		{"GET", remote.SessionPath + "?capacity=1"},
		{"GET", remote.JobInputPath(id)},
		{"POST", remote.JobResultPath(id)},
		{"POST", remote.JobFailurePath(id)},
	}
	for _, ep := range endpoints {
		for bearer, reason := range map[string]string{"": "missing transcoder secret", "wrong": "wrong transcoder secret"} {
			resp := do(t, srv, context.Background(), ep.method, ep.path, bearer, "text/plain", strings.NewReader("x"), nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), reason) ||
				!strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with %q: %d %q", ep.method, ep.path, bearer, resp.StatusCode, body)
			}
		}
	}
	if p.Capacity() != 0 {
		t.Fatalf("capacity %d after refused sessions", p.Capacity())
	}
}

func TestBadSessionQueryIsRefused(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{})
	for _, q := range []string{"", "capacity=0", "capacity=65", "capacity=two", "capacity=1&name=no%2Fslash",
		"capacity=1&name=" + strings.Repeat("n", 65)} {
		resp := do(t, srv, context.Background(), "GET", remote.SessionPath+"?"+q, secret, "", nil, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", q, resp.StatusCode)
		}
	}
	if p.Capacity() != 0 {
		t.Fatalf("capacity %d after refused sessions", p.Capacity())
	}
}

// TestNoFreeTranscoderIsUnavailableAtOnce: with no transcoder, or every
// slot taken, the broadcaster hears 503 (ErrBusy) at once and can go
// elsewhere; the input is still closed.
func TestNoFreeTranscoderIsUnavailableAtOnce(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{})
	check := func(what string) {
		t.Helper()
		in := &closeTracker{Reader: strings.NewReader("ts")}
		start := time.Now()
		_, err := p.Transcode(context.Background(), job(1, in))
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("%s: took %v", what, took)
		}
		if _, ok := httpx.RetryAfter(err); httpx.StatusOf(err) != http.StatusServiceUnavailable ||
			!errors.Is(err, remote.ErrBusy) || !errors.Is(err, dispatch.ErrNoTranscoder) || !ok {
			t.Errorf("%s: %v", what, err)
		}
		if !in.closed.Load() {
			t.Errorf("%s: input not closed", what)
		}
	}
	check("no transcoder")

	fake := connectFake(t, srv, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ch := transcodeAsync(ctx, p, job(2, bytes.NewReader(segment(100))))
	fake.next(remote.EventJob)
	check("every slot taken")
	cancel()
	await(t, ch)
	if p.Free() != 1 {
		t.Fatalf("free %d, want 1", p.Free())
	}
}

func TestOversizedSegmentIsTooLarge(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{MaxSegmentBytes: 1000})
	startNode(t, p, srv, echo, 1)
	in := &closeTracker{Reader: bytes.NewReader(segment(5000))}
	_, err := p.Transcode(context.Background(), job(1, in))
	if httpx.StatusOf(err) != http.StatusRequestEntityTooLarge || !errors.Is(err, dispatch.ErrTooLarge) {
		t.Fatalf("err %v (status %d), want 413", err, httpx.StatusOf(err))
	}
	if p.Free() != 1 || !in.closed.Load() {
		t.Fatalf("free %d (want 1), input closed %v", p.Free(), in.closed.Load())
	}
}

// TestInputFailureIsUnprocessable: a transcoder that says the media is bad
// fails the job with 422 (nobody else would do better) and keeps its
// session.
func TestInputFailureIsUnprocessable(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{})
	fake := connectFake(t, srv, 1)
	ch := transcodeAsync(context.Background(), p, job(6, bytes.NewReader(segment(100))))
	ev := fake.next(remote.EventJob)
	hdr := http.Header{remote.HeaderFailure: {remote.FailureInput}}
	if code := fake.post(remote.JobFailurePath(ev.Job), "text/plain", []byte("Invalid data found when processing input"), hdr); code != http.StatusNoContent {
		t.Fatalf("failure report: %d", code)
	}
	r := await(t, ch)
	if httpx.StatusOf(r.err) != http.StatusUnprocessableEntity || !errors.Is(r.err, remote.ErrTranscode) ||
		!strings.Contains(r.err.Error(), "Invalid data found") {
		t.Fatalf("err %v, want 422 with the reason", r.err)
	}
	if p.Free() != 1 || p.Capacity() != 1 || p.Snapshot().Transcoders[0].JobsFailed != 1 {
		t.Fatalf("free %d of %d, snapshot %+v", p.Free(), p.Capacity(), p.Snapshot())
	}
	// A second report for the same job, or a bad class, is refused.
	if code := fake.post(remote.JobFailurePath(ev.Job), "text/plain", []byte("again"), hdr); code != http.StatusNotFound {
		t.Fatalf("repeated report: %d, want 404", code)
	}
}

func TestFailureReportChecks(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{})
	fake := connectFake(t, srv, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := transcodeAsync(ctx, p, job(7, bytes.NewReader(segment(100))))
	ev := fake.next(remote.EventJob)
	tests := map[string]struct {
		class string
		body  []byte
		want  int
	}{
		"no class":    {"", []byte("x"), http.StatusBadRequest},
		"bad class":   {"both", []byte("x"), http.StatusBadRequest},
		"long reason": {remote.FailureInput, bytes.Repeat([]byte("x"), remote.MaxFailureReason+1), http.StatusRequestEntityTooLarge},
		"unknown job": {remote.FailureInput, []byte("x"), http.StatusNotFound},
	}
	for name, tc := range tests {
		id := ev.Job
		if name == "unknown job" {
			id = strings.Repeat("0", 32)
		}
		if code := fake.post(remote.JobFailurePath(id), "text/plain", tc.body, http.Header{remote.HeaderFailure: {tc.class}}); code != tc.want {
			t.Errorf("%s: %d, want %d", name, code, tc.want)
		}
	}
	cancel()
	await(t, ch)
}

// TestCallerCancelReachesTranscoder: when the broadcaster gives up, the
// transcoder is told to stop, its input stream is cut (not ended cleanly)
// and the slot is free again.
func TestCallerCancelReachesTranscoder(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{})
	fake := connectFake(t, srv, 1)
	input, _ := growingInput(t, segment(10_000), 2000) // never finishes
	ctx, cancel := context.WithCancel(context.Background())
	ch := transcodeAsync(ctx, p, job(8, input))
	ev := fake.next(remote.EventJob)
	in, _ := fake.readInput(ev.Job, 2000)
	defer in.Close()
	cancel()
	if c := fake.next(remote.EventCancel); c.Job != ev.Job {
		t.Fatalf("cancel for %s, want %s", c.Job, ev.Job)
	}
	if r := await(t, ch); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", r.err)
	}
	if _, err := io.ReadAll(in); err == nil {
		t.Fatal("the input stream of a cancelled job ended as if complete")
	}
	if p.Free() != 1 || p.Capacity() != 1 {
		t.Fatalf("free %d of %d, want 1 of 1", p.Free(), p.Capacity())
	}
	resp := do(t, srv, context.Background(), "GET", remote.JobInputPath(ev.Job), secret, "", nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("input of a cancelled job: %d, want 404", resp.StatusCode)
	}
}

// TestSnapshotShowsTranscodersAndJobs checks the operator's view as JSON.
func TestSnapshotShowsTranscodersAndJobs(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{})
	fake := connectFake(t, srv, 2)
	ctx, cancel := context.WithCancel(context.Background())
	ch := transcodeAsync(ctx, p, job(9, bytes.NewReader(segment(100))))
	ev := fake.next(remote.EventJob)
	in, _ := fake.readInput(ev.Job, 100)
	in.Close()
	b, err := json.Marshal(p.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Capacity, Free int
		Transcoders    []map[string]any
		Jobs           []map[string]any
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	if snap.Capacity != 2 || snap.Free != 1 || len(snap.Transcoders) != 1 || len(snap.Jobs) != 1 {
		t.Fatalf("snapshot %s", b)
	}
	tr, j := snap.Transcoders[0], snap.Jobs[0]
	if tr["id"] != fake.hello.Transcoder || tr["name"] != "fake" || tr["capacity"] != 2.0 || tr["busy"] != 1.0 ||
		tr["connected_since"] == nil || tr["jobs_done"] != 0.0 || tr["jobs_lost"] != 0.0 {
		t.Errorf("transcoder %v", tr)
	}
	if j["job"] != ev.Job || j["stream"] != "cam" || j["seq"] != 9.0 || j["transcoder"] != fake.hello.Transcoder ||
		j["picked_up"] != true || j["input_bytes"] != 100.0 || j["dispatch"] != 1.0 {
		t.Errorf("job %v", j)
	}
	cancel()
	await(t, ch)
}

// TestHeartbeatAndClose: an idle session is pinged every heartbeat, and
// Close ends it and refuses new work.
func TestHeartbeatAndClose(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{Heartbeat: 30 * time.Millisecond})
	fake := connectFake(t, srv, 1)
	if fake.hello.Heartbeat != 30*time.Millisecond {
		t.Fatalf("hello announces %v", fake.hello.Heartbeat)
	}
	start := time.Now()
	fake.next(remote.EventPing)
	fake.next(remote.EventPing)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("two pings took %v", took)
	}
	p.Close()
	if !fake.ended() {
		t.Fatal("session still open after Close")
	}
	if _, err := p.Transcode(context.Background(), job(1, strings.NewReader("x"))); !errors.Is(err, dispatch.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if p.Capacity() != 0 {
		t.Fatalf("capacity %d after Close", p.Capacity())
	}
}

// TestStalledInputReaderIsCutOff: a transcoder that stops reading its input
// does not pin the orchestrator's handler once the job is abandoned.
func TestStalledInputReaderIsCutOff(t *testing.T) {
	p, err := dispatch.New(dispatch.Config{Secret: secret, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	inputDone := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/input") {
			defer func() { inputDone <- struct{}{} }()
		}
		p.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { p.Close() })
	fake := connectFake(t, srv, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ch := transcodeAsync(ctx, p, job(10, bytes.NewReader(segment(16<<20)))) // far more than socket buffers hold
	ev := fake.next(remote.EventJob)
	in, _ := fake.readInput(ev.Job, 1024) // and read no more
	defer in.Close()
	waitFor(t, "the whole segment to arrive", func() bool {
		s := p.Snapshot()
		return len(s.Jobs) == 1 && s.Jobs[0].InputBytes == 16<<20
	})
	cancel()
	await(t, ch)
	select {
	case <-inputDone:
	case <-time.After(2 * time.Second):
		t.Fatal("the input handler is still blocked writing to a transcoder that stopped reading")
	}
}
