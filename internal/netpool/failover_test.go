package netpool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

func TestBadOrchestratorFailsOverAndIsSuspendedForTheStream(t *testing.T) {
	// The lies of issue 11, attack 3 (repeated, forged-sps, sps-switch,
	// too-many-frames) fail like any fault.
	for _, bad := range []string{"fail", "hang", "wrong-size", "missing", "garbage", "truncated", "empty-ts", "short", "shifted",
		"repeated", "forged-sps", "sps-switch", "too-many-frames"} {
		t.Run(bad, func(t *testing.T) {
			b, g := startNode(t, bad), startNode(t, "ok")
			p := newPool(t, Config{URLs: urls(b, g), AttemptTimeout: 300 * time.Millisecond})
			job := segJob("a", 1)
			want := goodRendition(job.Profiles[1], nil, 640, 360)
			rends, err := p.Transcode(context.Background(), job)
			if err != nil {
				t.Fatal(err)
			}
			if len(rends) != 2 || !bytes.Equal(rends[1].Data, want) {
				t.Fatalf("renditions %d, want the good node's 2", len(rends))
			}
			if b.count() != 1 || g.count() != 1 {
				t.Fatalf("calls bad %d good %d, want 1 and 1", b.count(), g.count())
			}
			// The stream now sticks to the good node; the bad one is
			// suspended for it.
			mustTranscode(t, p, "a", 2)
			if b.count() != 1 || g.count() != 2 {
				t.Errorf("after suspension: calls bad %d good %d, want 1 and 2", b.count(), g.count())
			}
			s := state(t, p, b.URL)
			if s.SegmentsFailed != 1 || !slices.Equal(s.SuspendedFor, []string{"a"}) {
				t.Errorf("bad node: failed %d, suspended for %q", s.SegmentsFailed, s.SuspendedFor)
			}
		})
	}
}

// TestHungOrchestratorIsAbandonedAtAttemptTimeout runs first on the wall
// clock (Config.Clock nil), to show the real clock drives the deadline,
// then on the fake one.
func TestHungOrchestratorIsAbandonedAtAttemptTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	h, g := startNode(t, "hang"), startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(h, g), AttemptTimeout: timeout})
	start := time.Now()
	mustTranscode(t, p, "a", 1)
	if d := time.Since(start); d < timeout || d > timeout+time.Second {
		t.Errorf("segment took %v, want AttemptTimeout %v plus the good node's turn", d, timeout)
	}
	if h.count() != 1 || g.count() != 1 {
		t.Errorf("calls hung %d good %d", h.count(), g.count())
	}

	t.Run("alone it times out with ErrTimeout", func(t *testing.T) {
		c := newFake()
		p := newPool(t, Config{URLs: urls(h), AttemptTimeout: timeout, LastResortTimeout: timeout, Clock: c})
		start := c.Now()
		done := transcodeAsync(p, "b", 1)
		waitDue(t, c, timeout)
		c.Advance(timeout)
		err := result(t, done)
		if !errors.Is(err, ErrAllFailed) || !errors.Is(err, ErrTimeout) {
			t.Fatalf("err %v, want ErrAllFailed and ErrTimeout", err)
		}
		if d := c.Now().Sub(start); d != timeout {
			t.Errorf("took %v", d)
		}
	})
}

// TestLastResortGetsLonger: an orchestrator slower than AttemptTimeout is
// still waited for when there is no other to go to (under load, a lone
// node's late ladder beats a source-only segment), up to
// LastResortTimeout.
func TestLastResortGetsLonger(t *testing.T) {
	const timeout = 300 * time.Millisecond
	c := newFake()
	slow := startNode(t, "ok")
	slow.useClock(c)
	slow.setDelay(2 * timeout)
	p := newPool(t, Config{URLs: urls(slow), AttemptTimeout: timeout, Clock: c})
	if _, err := p.Transcode(context.Background(), segJob("a", 1)); err != nil {
		t.Fatalf("a lone slow node within LastResortTimeout: %v", err)
	}
	slow.setDelay(5 * timeout)
	_, err := p.Transcode(context.Background(), segJob("a", 2))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("past LastResortTimeout: %v, want ErrTimeout", err)
	}
}

func TestEveryFailureIsNamedInErrAllFailed(t *testing.T) {
	f, gb := startNode(t, "fail"), startNode(t, "garbage")
	p := newPool(t, Config{URLs: urls(f, gb)})
	_, err := p.Transcode(context.Background(), segJob("a", 7))
	if !errors.Is(err, ErrAllFailed) || !errors.Is(err, ErrBadOutput) {
		t.Fatalf("err %v, want ErrAllFailed wrapping ErrBadOutput", err)
	}
	msg := err.Error()
	for _, want := range []string{f.URL + ": node answered 422", "ffmpeg exploded [h264] second line", gb.URL + ": bad output", `stream "a", segment 7`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
}

func TestAttemptsBoundTheTries(t *testing.T) {
	ns := []*fakeNode{startNode(t, "fail"), startNode(t, "fail"), startNode(t, "fail")}
	p := newPool(t, Config{URLs: urls(ns...), Attempts: 2})
	if _, err := p.Transcode(context.Background(), segJob("a", 1)); !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err %v", err)
	}
	if got := ns[0].count() + ns[1].count() + ns[2].count(); got != 2 {
		t.Errorf("%d attempts, want 2", got)
	}
}

func TestWithoutReopenThereIsOneAttempt(t *testing.T) {
	f, g := startNode(t, "fail"), startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(f, g)})
	job := segJob("a", 1)
	job.Reopen = nil
	if _, err := p.Transcode(context.Background(), job); !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err %v", err)
	}
	if f.count() != 1 || g.count() != 0 {
		t.Errorf("calls %d %d, want only the first", f.count(), g.count())
	}
}

// closeCounter is an input that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed *atomic.Int32
}

func (c closeCounter) Close() error {
	c.closed.Add(1)
	return nil
}

func TestInputsAreClosedOnceEach(t *testing.T) {
	tests := []struct {
		name  string
		modes []string
		want  int32
	}{
		// The answer's check reads the source once more, through Reopen.
		{"one attempt closes the input and the check's reader", []string{"ok"}, 2},
		{"a failover also closes the retry's reader", []string{"fail", "ok"}, 3},
		{"no eligible node still closes the input", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ns []*fakeNode
			for _, m := range tt.modes {
				ns = append(ns, startNode(t, m))
			}
			if ns == nil {
				n := startNode(t, "ok")
				n.setInfo(infoWithPrice("9"))
				ns = append(ns, n)
			}
			p := newPool(t, Config{URLs: urls(ns...), MaxPrice: bigInt("1")})
			var closed atomic.Int32
			job := segJob("a", 1)
			reopen := job.Reopen
			job.Input = closeCounter{job.Input, &closed}
			job.Reopen = func() io.Reader { return closeCounter{reopen(), &closed} }
			p.Transcode(context.Background(), job)
			if got := closed.Load(); got != tt.want {
				t.Errorf("%d closes, want %d", got, tt.want)
			}
		})
	}
}

func TestCallerCancellationDoesNotSuspend(t *testing.T) {
	h := startNode(t, "hang")
	p := newPool(t, Config{URLs: urls(h)})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.Transcode(ctx, segJob("a", 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the caller's deadline", err)
	}
	if s := state(t, p, h.URL); s.SegmentsFailed != 0 || len(s.SuspendedFor) != 0 {
		t.Errorf("blamed for the caller's deadline: %+v", s)
	}
}

func TestCloseEndsSegmentsInFlightAndLaterCalls(t *testing.T) {
	h := startNode(t, "hang")
	p, err := New(Config{URLs: urls(h)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Transcode(context.Background(), segJob("a", 1))
		done <- err
	}()
	h.waitCalls(t, 1)
	p.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrAllFailed) || !errors.Is(err, ErrClosed) {
			t.Errorf("in flight: %v, want ErrAllFailed and ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a segment in flight")
	}
	if _, err := p.Transcode(context.Background(), segJob("a", 2)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	p.Close() // idempotent
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"attempt timeout is a segment + 1 s", Config{URLs: []string{"http://o"}}, 3 * time.Second},
		{"it follows SegmentDuration", Config{URLs: []string{"http://o"}, SegmentDuration: time.Second}, 2 * time.Second},
		{"an explicit one is kept", Config{URLs: []string{"http://o"}, AttemptTimeout: time.Second}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.setDefaults(); err != nil {
				t.Fatal(err)
			}
			if tt.cfg.AttemptTimeout != tt.want || tt.cfg.Attempts != 3 || tt.cfg.Suspend != 30*time.Second ||
				tt.cfg.Refresh != 10*time.Second || tt.cfg.WebhookRefresh != time.Minute || tt.cfg.StreamTTL != 10*time.Minute {
				t.Errorf("%+v", tt.cfg)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no orchestrators":   {},
		"a bad URL":          {URLs: []string{"ftp://o"}},
		"a bad webhook":      {Webhook: "not a url"},
		"a negative price":   {URLs: []string{"http://o"}, MaxPrice: bigInt("-1")},
		"a URL with a query": {URLs: []string{"http://o/?x=1"}},
	} {
		t.Run(name, func(t *testing.T) {
			if p, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
				if p != nil {
					p.Close()
				}
				t.Errorf("err %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestDeadlineRunsFromTheSegmentsEnd: a live segment streams for as long as
// its publisher takes; the attempt deadline starts when the segment is cut
// (Job.InputDone), so a slow publisher is not blamed on the orchestrator,
// while a node that hangs after the end is still abandoned in time.
func TestDeadlineRunsFromTheSegmentsEnd(t *testing.T) {
	const timeout, cut = 300 * time.Millisecond, 800 * time.Millisecond
	c := newFake()
	// slowJob's publisher sends half the segment, takes cut (on c) for the
	// rest, then ends it.
	slowJob := func(stream string) transcode.Job {
		j := segJob(stream, 1)
		data, _ := io.ReadAll(j.Input)
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			_, _ = pw.Write(data[:len(data)/2])
			c.Advance(cut)
			_, _ = pw.Write(data[len(data)/2:])
			close(done)
			_ = pw.Close()
		}()
		j.Input, j.InputDone = pr, done
		return j
	}
	g := startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(g), AttemptTimeout: timeout, Clock: c})
	if _, err := p.Transcode(context.Background(), slowJob("slow")); err != nil {
		t.Fatalf("a segment cut after the attempt timeout failed: %v", err)
	}
	h := startNode(t, "hang")
	p = newPool(t, Config{URLs: urls(h), AttemptTimeout: timeout, LastResortTimeout: timeout, Clock: c})
	start := c.Now()
	done := make(chan error, 1)
	go func() { _, err := p.Transcode(context.Background(), slowJob("hung")); done <- err }()
	waitDue(t, c, timeout) // armed at the segment's end
	c.Advance(timeout - 1)
	if !slices.Contains(c.Pending(), 1) {
		t.Fatalf("the deadline is gone before its time: pending %v", c.Pending())
	}
	c.Advance(1)
	err := result(t, done)
	if d := c.Now().Sub(start); !errors.Is(err, ErrTimeout) || d != cut+timeout {
		t.Fatalf("hung node: %v after %v, want ErrTimeout after %v", err, d, cut+timeout)
	}
}

// TestBusyOrchestratorIsWaitedForNotSuspended: a full orchestrator (503) is
// not faulty. When every one is full the segment waits for a slot instead
// of being published as source only, and the stream is not moved away.
func TestBusyOrchestratorIsWaitedForNotSuspended(t *testing.T) {
	c := newFake()
	mux := http.NewServeMux()
	n := &fakeNode{gate: make(chan struct{})} // holds the first segment, and its only slot
	n.mode.Store("ok")
	n.info.Store(goodInfo)
	mux.Handle(remote.Path, remote.NewHandler(remote.HandlerConfig{Transcoder: transcoderFunc(n.transcode), Capacity: 1}))
	mux.HandleFunc("GET /api/info", n.serveInfo)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := newPool(t, Config{URLs: []string{srv.URL}, Clock: c})
	first := transcodeAsync(p, "a", 1)
	n.waitCalls(t, 1)
	second := transcodeAsync(p, "a", 2)
	waitDue(t, c, busyWait) // answered 503: the segment waits a round
	close(n.gate)
	if err := result(t, first); err != nil {
		t.Fatal(err)
	}
	c.Advance(busyWait)
	if err := result(t, second); err != nil {
		t.Fatalf("the second segment should have waited for the slot: %v", err)
	}
	for _, s := range p.Snapshot() {
		if s.SegmentsFailed != 0 || len(s.SuspendedFor) != 0 {
			t.Errorf("busy counted as a failure: %+v", s)
		}
	}
}

// TestFailureMovesTheStreamsOtherSegmentsAtOnce: when a node fails one of
// a stream's segments, the stream's other segments in flight there are
// moved at once instead of each waiting out its own deadline.
func TestFailureMovesTheStreamsOtherSegmentsAtOnce(t *testing.T) {
	const timeout, gap = time.Second, 600 * time.Millisecond
	c := newFake()
	h, g := startNode(t, "hang"), startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(h, g), AttemptTimeout: timeout, Clock: c})
	start := c.Now()
	first := transcodeAsync(p, "a", 1)
	waitDue(t, c, timeout)
	c.Advance(gap)
	second := transcodeAsync(p, "a", 2)
	waitDue(t, c, timeout)
	h.waitCalls(t, 2)
	c.Advance(timeout - gap) // the first's deadline, not the second's
	if err := result(t, second); err != nil {
		t.Fatal(err)
	}
	if d := c.Now().Sub(start); d >= timeout+gap {
		t.Errorf("the second segment waited out its own deadline: done %v after the first began", d)
	}
	if err := result(t, first); err != nil {
		t.Fatal(err)
	}
	if h.count() != 2 || g.count() != 2 {
		t.Errorf("hung node got %d, good node %d; want 2 and 2", h.count(), g.count())
	}
}
