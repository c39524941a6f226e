package transcoder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
	"github.com/castnet/castnet/internal/transcoder"
)

func TestConfigValidation(t *testing.T) {
	good := transcoder.Config{OrchestratorURL: "http://127.0.0.1:9935", Secret: "s", Transcoder: echo}
	tests := map[string]func(c *transcoder.Config){
		"no URL":            func(c *transcoder.Config) { c.OrchestratorURL = "" },
		"not http":          func(c *transcoder.Config) { c.OrchestratorURL = "ftp://o" },
		"no host":           func(c *transcoder.Config) { c.OrchestratorURL = "http://" },
		"no secret":         func(c *transcoder.Config) { c.Secret = "" },
		"capacity too big":  func(c *transcoder.Config) { c.Capacity = 65 },
		"negative capacity": func(c *transcoder.Config) { c.Capacity = -1 },
		"bad name":          func(c *transcoder.Config) { c.Name = "has space" },
		"no transcoder":     func(c *transcoder.Config) { c.Transcoder = nil },
		"client timeout":    func(c *transcoder.Config) { c.HTTP = &http.Client{Timeout: time.Minute} },
		"backoff inverted":  func(c *transcoder.Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond },
	}
	for name, breakIt := range tests {
		c := good
		breakIt(&c)
		if _, err := transcoder.New(c); !errors.Is(err, transcoder.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	n, err := transcoder.New(good)
	if err != nil {
		t.Fatal(err)
	}
	if st := n.Status(); st.Capacity != 1 || st.Connected || st.Orchestrator != good.OrchestratorURL {
		t.Fatalf("defaults: %+v", st)
	}
	n.Close()
}

// TestWrongSecretStopsRun: a refused secret is permanent, so Run returns a
// clear error at once instead of retrying.
func TestWrongSecretStopsRun(t *testing.T) {
	_, srv := newPool(t, "another secret")
	var sessions atomic.Int32
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, remote.SessionPath) {
			sessions.Add(1)
		}
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer counting.Close()
	n := newNode(t, counting, echo, 1)
	done := run(t, n)
	select {
	case err := <-done:
		if !errors.Is(err, transcoder.ErrSecretRefused) || !strings.Contains(err.Error(), "wrong transcoder secret") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run kept going with a refused secret")
	}
	if sessions.Load() != 1 {
		t.Fatalf("%d session attempts, want 1", sessions.Load())
	}
	if st := n.Status(); st.Connected || !strings.Contains(st.LastError, "refused") {
		t.Fatalf("status %+v", st)
	}
}

// TestSessionRefusals: which answers to the session request end Run and
// which are retried.
func TestSessionRefusals(t *testing.T) {
	tests := map[string]struct {
		status int
		want   error // nil: retried
	}{
		"401 wrong secret": {http.StatusUnauthorized, transcoder.ErrSecretRefused},
		"400 bad query":    {http.StatusBadRequest, transcoder.ErrRefused},
		"403 forbidden":    {http.StatusForbidden, transcoder.ErrRefused},
		"503 busy":         {http.StatusServiceUnavailable, nil},
		"404 not yet":      {http.StatusNotFound, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := newFakeO(t, func(w http.ResponseWriter, r *http.Request, i int) {
				http.Error(w, "no", tc.status)
			})
			n := newNode(t, o.srv, echo, 1)
			done := run(t, n)
			if tc.want != nil {
				select {
				case err := <-done:
					if !errors.Is(err, tc.want) {
						t.Fatalf("Run: %v, want %v", err, tc.want)
					}
				case <-time.After(2 * time.Second):
					t.Fatal("Run did not give up")
				}
				return
			}
			waitFor(t, "retries", func() bool { return o.sessions.Load() >= 3 })
			if st := n.Status(); st.Reconnects < 2 || !strings.Contains(st.LastError, fmt.Sprint(tc.status)) {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestLinkFailuresReconnect: whatever breaks the link, the node says why
// and connects again.
func TestLinkFailuresReconnect(t *testing.T) {
	tests := map[string]struct {
		first func(w http.ResponseWriter, r *http.Request)
		want  string
	}{
		"session ended": {func(w http.ResponseWriter, r *http.Request) { startSession(w, time.Second) },
			"ended the session"},
		"dead link": {func(w http.ResponseWriter, r *http.Request) {
			startSession(w, 20*time.Millisecond)
			<-r.Context().Done() // silence: no pings
		}, "three heartbeats"},
		"line over 64 KiB": {func(w http.ResponseWriter, r *http.Request) {
			startSession(w, time.Second)
			writeLine(w, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", remote.MaxEventLine)+`"}`+"\n"))
			<-r.Context().Done()
		}, "line over"},
		"no hello": {func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", remote.SessionContentType)
			writeLine(w, []byte(`{"type":"ping"}`+"\n"))
			<-r.Context().Done()
		}, "not hello"},
		"not a session": {func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) },
			"not a transcoder session"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := newFakeO(t, func(w http.ResponseWriter, r *http.Request, i int) {
				if i == 0 {
					tc.first(w, r)
					return
				}
				startSession(w, time.Second)
				<-r.Context().Done()
			})
			n := newNode(t, o.srv, echo, 1)
			run(t, n)
			waitFor(t, "the second session", func() bool { return n.Status().Connected && o.sessions.Load() == 2 })
			if st := n.Status(); st.Reconnects != 1 || !strings.Contains(st.LastError, tc.want) || st.Transcoder != "fake-o" {
				t.Fatalf("status %+v, want last error with %q", st, tc.want)
			}
		})
	}
}

// TestLinkLossStopsJobs: when the session ends, the node's jobs are
// cancelled and report nothing (the orchestrator has moved them on).
func TestLinkLossStopsJobs(t *testing.T) {
	started, stopped := make(chan struct{}), make(chan error, 1)
	blocking := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		close(started)
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	endSession := make(chan struct{})
	o := newFakeO(t, func(w http.ResponseWriter, r *http.Request, i int) {
		startSession(w, time.Second)
		if i == 0 {
			writeLine(w, jobLine(strings.Repeat("a", 32)))
			<-endSession
			return
		}
		<-r.Context().Done()
	})
	n := newNode(t, o.srv, blocking, 1)
	run(t, n)
	<-started
	close(endSession)
	select {
	case cause := <-stopped:
		if !strings.Contains(cause.Error(), "link lost") {
			t.Fatalf("job stopped by %v", cause)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("job kept running after the link was lost")
	}
	waitFor(t, "the node to reconnect", func() bool { return o.sessions.Load() == 2 && n.Status().Connected })
	select {
	case r := <-o.reports:
		t.Fatalf("a stopped job reported %+v", r)
	default:
	}
	if st := n.Status(); st.Busy != 0 || st.JobsFailed != 0 || st.JobsDone != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestJobBeyondCapacityIsRefused: a job the orchestrator should not have
// sent is refused as this transcoder's failure, so it moves on at once.
func TestJobBeyondCapacityIsRefused(t *testing.T) {
	release := make(chan struct{})
	slow := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return echo(ctx, job)
	})
	o := newFakeO(t, func(w http.ResponseWriter, r *http.Request, i int) {
		startSession(w, time.Second)
		writeLine(w, jobLine(strings.Repeat("a", 32)))
		writeLine(w, jobLine(strings.Repeat("b", 32)))
		<-r.Context().Done()
	})
	n := newNode(t, o.srv, slow, 1)
	run(t, n)
	want := []report{
		{remote.JobFailurePath(strings.Repeat("b", 32)), remote.FailureTranscoder, "over capacity (1)"},
	}
	got := <-o.reports
	if got != want[0] {
		t.Fatalf("report %+v, want %+v", got, want[0])
	}
	close(release)
	got = <-o.reports
	if got.path != remote.JobResultPath(strings.Repeat("a", 32)) || got.class != "" {
		t.Fatalf("report %+v, want the first job's result", got)
	}
	rends, err := remote.ReadRenditions(multipartType(got.body), strings.NewReader(got.body), ladder)
	if err != nil || len(rends) != 2 || string(rends[0].Data) != "segment bytes" {
		t.Fatalf("result %v %+v", err, rends)
	}
}

// multipartType recovers a multipart body's content type from its first
// boundary line.
func multipartType(body string) string {
	line, _, _ := strings.Cut(body, "\r\n")
	return "multipart/mixed; boundary=" + strings.TrimPrefix(line, "--")
}

func TestFailureClass(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: seq 1: exit status 1; stderr: Invalid data found", transcode.ErrFFmpeg), remote.FailureInput},
		{fmt.Errorf("%w: seq 1: no input", transcode.ErrInvalidJob), remote.FailureInput},
		{fmt.Errorf("%w: bad rung", transcode.ErrInvalidProfile), remote.FailureInput},
		{fmt.Errorf("%w: seq 1: unexpected EOF", transcode.ErrInput), remote.FailureTranscoder},
		{errors.Join(fmt.Errorf("%w: x", transcode.ErrFFmpeg), fmt.Errorf("%w: cut", transcode.ErrInput)), remote.FailureTranscoder},
		{transcode.ErrFFmpegNotFound, remote.FailureTranscoder},
		{transcode.ErrClosed, remote.FailureTranscoder},
		{errors.New("open /tmp/x: no space left on device"), remote.FailureTranscoder},
	}
	for _, tc := range tests {
		if got := transcoder.FailureClass(tc.err); got != tc.want {
			t.Errorf("FailureClass(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestStatusEndpoint: GET /api/status reports the link and the counters.
func TestStatusEndpoint(t *testing.T) {
	p, srv := newPool(t, secret)
	n := newNode(t, srv, echo, 2)
	run(t, n)
	waitFor(t, "registration", func() bool { return p.Capacity() == 2 && n.Status().Connected })
	if _, err := p.Transcode(context.Background(), transcode.Job{Seq: 1, Input: strings.NewReader("ts"),
		Profiles: ladder, SourceWidth: 320, SourceHeight: 240}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job to count", func() bool { return n.Status().JobsDone == 1 })
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/status", nil))
	var st map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	id := p.Snapshot().Transcoders[0].ID
	for key, want := range map[string]any{"orchestrator": srv.URL, "connected": true, "transcoder": id, "capacity": 2.0,
		"busy": 0.0, "jobs_done": 1.0, "jobs_failed": 0.0, "reconnects": 0.0, "last_error": "", "name": "t1"} {
		if st[key] != want {
			t.Errorf("%s = %v, want %v", key, st[key], want)
		}
	}
	if _, ok := st["connected_since"].(string); !ok {
		t.Errorf("connected_since %v", st["connected_since"])
	}
}

// TestJobsRunConcurrentlyUpToCapacity: a node offering two slots runs two
// jobs at once, and the pool refuses a third with 503.
func TestJobsRunConcurrentlyUpToCapacity(t *testing.T) {
	p, srv := newPool(t, secret)
	release := make(chan struct{})
	var running, peak atomic.Int32
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		now := running.Add(1)
		defer running.Add(-1)
		for old := peak.Load(); now > old && !peak.CompareAndSwap(old, now); old = peak.Load() {
		}
		<-release
		return echo(ctx, job)
	})
	n := newNode(t, srv, tr, 2)
	run(t, n)
	waitFor(t, "registration", func() bool { return p.Capacity() == 2 })
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			_, err := p.Transcode(context.Background(), transcode.Job{Seq: uint64(i), Input: bytes.NewReader([]byte("ts")),
				Profiles: ladder, SourceWidth: 320, SourceHeight: 240})
			errs <- err
		}()
	}
	waitFor(t, "two jobs running", func() bool { return running.Load() == 2 && n.Status().Busy == 2 })
	if p.Free() != 0 {
		t.Fatalf("free %d with both slots busy", p.Free())
	}
	_, err := p.Transcode(context.Background(), transcode.Job{Seq: 3, Input: strings.NewReader("ts"), Profiles: ladder,
		SourceWidth: 320, SourceHeight: 240})
	if httpx.StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("third job: %v, want 503", err)
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the jobs to count", func() bool { return n.Status().JobsDone == 2 && n.Status().Busy == 0 })
	if peak.Load() != 2 || p.Free() != 2 {
		t.Fatalf("peak %d, free %d", peak.Load(), p.Free())
	}
}

// TestCallerCancelStopsTheLocalJob: the broadcaster giving up reaches the
// node's ffmpeg through the cancel event.
func TestCallerCancelStopsTheLocalJob(t *testing.T) {
	p, srv := newPool(t, secret)
	started, stopped := make(chan struct{}), make(chan error, 1)
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		close(started)
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	n := newNode(t, srv, tr, 1)
	run(t, n)
	waitFor(t, "registration", func() bool { return p.Capacity() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Transcode(ctx, transcode.Job{Seq: 1, Input: strings.NewReader("ts"), Profiles: ladder,
			SourceWidth: 320, SourceHeight: 240})
		done <- err
	}()
	<-started
	cancel()
	select {
	case cause := <-stopped:
		if !strings.Contains(cause.Error(), "cancelled by the orchestrator") {
			t.Fatalf("stopped by %v", cause)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the local job did not stop")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Transcode: %v", err)
	}
	waitFor(t, "the slot to free", func() bool { return n.Status().Busy == 0 && p.Free() == 1 })
	if st := n.Status(); st.JobsFailed != 0 || !st.Connected {
		t.Fatalf("status %+v", st)
	}
}

// TestRunLifecycle: Run returns nil when its context ends, refuses a
// second concurrent Run, and refuses to start after Close.
func TestRunLifecycle(t *testing.T) {
	p, srv := newPool(t, secret)
	n := newNode(t, srv, echo, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, "registration", func() bool { return p.Capacity() == 1 })
	if err := n.Run(context.Background()); !errors.Is(err, transcoder.ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	waitFor(t, "the session to end", func() bool { return p.Capacity() == 0 })
	n.Close()
	n.Close()
	if err := n.Run(context.Background()); !errors.Is(err, transcoder.ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
}

// TestStalledInputFailsTheJob: an orchestrator that stops sending a job's
// input (stuck, or feeding a slow broadcaster it failed to cut off) does
// not hold this node's slot: after InputIdle without a byte the job fails
// as this link's fault (class transcoder, so the orchestrator may move it)
// and the slot is free again.
func TestStalledInputFailsTheJob(t *testing.T) {
	o := newFakeO(t, func(w http.ResponseWriter, r *http.Request, i int) {
		startSession(w, time.Second)
		writeLine(w, jobLine(strings.Repeat("a", 32)))
		<-r.Context().Done()
	})
	o.stall = time.Minute
	n, err := transcoder.New(transcoder.Config{OrchestratorURL: o.srv.URL, Secret: secret, Name: "t1",
		Transcoder: echo, HTTP: o.srv.Client(), Logger: testLogger(t), InputIdle: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, n)
	select {
	case got := <-o.reports:
		if got.path != remote.JobFailurePath(strings.Repeat("a", 32)) || got.class != remote.FailureTranscoder ||
			!strings.Contains(got.body, "no input byte from the orchestrator for 200ms") {
			t.Fatalf("report %+v", got)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the stalled job did not fail")
	}
	waitFor(t, "the slot to free", func() bool { return n.Status().Busy == 0 })
}
