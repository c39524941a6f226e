package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
	"github.com/castnet/castnet/internal/transcoder"
)

// slots is what `castnet dev -max-streams 2` has: 4 per stream.
const slots = 8

// TestSlowUploadsDoNotPinSlots is issue 11's attack 4: as many chunked
// uploads as the node has slots, each sending 752 bytes (four TS packets)
// every 3 s, take every slot. The input-idle deadline cuts each one off
// (408) and frees its slot, so a real segment sent after them is
// transcoded within 10 s, whether this node transcodes itself or through
// a transcoder node.
func TestSlowUploadsDoNotPinSlots(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		t.Run(mode, func(t *testing.T) {
			base, free := slowNode(t, mode, Config{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			codes := make(chan int, slots)
			for i := range slots {
				go func() { codes <- slowUpload(ctx, base, uint64(100+i), 3*time.Second) }()
			}
			waitFor(t, 5*time.Second, "every slot taken", func() bool { return free() == 0 })
			full := time.Now()
			if err := realSegment(ctx, base, 10*time.Second); err != nil {
				t.Fatalf("a real segment was not served within 10 s of the slow uploads taking every slot: %v", err)
			}
			t.Logf("real segment served %v after every slot was taken", time.Since(full).Round(time.Millisecond))
			for range slots {
				if c := <-codes; c != http.StatusRequestTimeout && c != 0 {
					t.Errorf("a slow upload got %d, want 408 (or a cut connection)", c)
				}
			}
			waitFor(t, 2*time.Second, "every slot free again", func() bool { return free() == slots })
		})
	}
}

// TestTricklingUploadMeetsTheAttemptDeadline: an upload that never idles
// long enough for the input-idle deadline (a byte every 100 ms) is still
// cut off by the total per-attempt deadline.
func TestTricklingUploadMeetsTheAttemptDeadline(t *testing.T) {
	base, free := slowNode(t, "local", Config{AttemptTimeout: time.Second})
	start := time.Now()
	code := slowUpload(t.Context(), base, 1, 100*time.Millisecond)
	took := time.Since(start)
	if code != http.StatusRequestTimeout && code != 0 {
		t.Errorf("got %d, want 408", code)
	}
	if took < time.Second || took > 3*time.Second {
		t.Errorf("cut off after %v, want about the 1 s attempt deadline", took)
	}
	waitFor(t, 2*time.Second, "the slot free again", func() bool { return free() == slots })
}

// slowNode serves an orchestrator with slots slots on a real httpx server
// (the one castnet runs, with its connection and body limits) and returns
// its URL and a func reporting its free slots.
func slowNode(t *testing.T, mode string, cfg Config) (string, func() int) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.Logger = log
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	var pool *dispatch.Pool
	if mode == "local" {
		cfg.Transcoder, cfg.Capacity = echo{}, slots
	} else {
		if pool, err = dispatch.New(dispatch.Config{Secret: "s", Logger: log}); err != nil {
			t.Fatal(err)
		}
		cfg.Workers = testWorkers{pool}
	}
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpx.Serve(ln, o.Handler(), log)
	t.Cleanup(func() { _ = srv.Close() })
	if pool == nil {
		return base, func() int { return o.Info().Free }
	}
	t.Cleanup(func() { _ = pool.Close() }) // first: ends the session srv.Close waits for
	startTranscoder(t, base, log)
	waitFor(t, 5*time.Second, "the transcoder registered", func() bool { return pool.Capacity() == slots })
	return base, pool.Free
}

// startTranscoder runs a transcoder node with slots slots against base.
func startTranscoder(t *testing.T, base string, log *slog.Logger) {
	t.Helper()
	runTranscoder(t, transcoder.Config{OrchestratorURL: base, Secret: "s", Capacity: slots, Transcoder: sized{}, Logger: log})
}

// runTranscoder runs a transcoder node until the test ends.
func runTranscoder(t *testing.T, cfg transcoder.Config) {
	t.Helper()
	node, err := transcoder.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = node.Run(context.Background()) }()
	t.Cleanup(func() { _ = node.Close(); wg.Wait() })
}

// testWorkers is app's adapter of the transcoder pool.
type testWorkers struct{ *dispatch.Pool }

func (w testWorkers) Snapshot() any { return w.Pool.Snapshot() }

// sized is echo with the sizes a transcoder must report.
type sized struct{}

func (sized) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	rends, err := echo{}.Transcode(ctx, job)
	for i := range rends {
		rends[i].Width, rends[i].Height = transcode.FitSize(rends[i].Profile, job.SourceWidth, job.SourceHeight)
	}
	return rends, err
}

// slowUpload sends a chunked segment of 752 bytes every gap until the node
// answers or ctx ends; it returns the status (0 for a cut connection).
func slowUpload(ctx context.Context, base string, seq uint64, gap time.Duration) int {
	c := &remote.Client{URL: base}
	_, err := c.Transcode(ctx, sourceJob(seq, &trickle{ctx: ctx, gap: gap}))
	var se *remote.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// realSegment sends a whole segment, as a broadcaster does when it finds
// every slot busy: again every 250 ms until it is served or within passes.
func realSegment(ctx context.Context, base string, within time.Duration) error {
	c := &remote.Client{URL: base}
	deadline := time.Now().Add(within)
	for {
		rends, err := c.Transcode(ctx, sourceJob(1, bytes.NewReader(bytes.Repeat([]byte{0x47}, 188*50))))
		if err == nil && len(rends) == 1 && len(rends[0].Data) == 188*50 {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func sourceJob(seq uint64, in io.Reader) transcode.Job {
	return transcode.Job{Stream: "slow", Seq: seq, Input: in, Profiles: []transcode.Profile{transcode.SourceProfile()},
		SourceWidth: 640, SourceHeight: 360}
}

// trickle yields 752 bytes, then 752 more every gap, until ctx ends.
type trickle struct {
	ctx  context.Context
	gap  time.Duration
	sent bool
}

func (tr *trickle) Read(p []byte) (int, error) {
	if tr.sent {
		select {
		case <-tr.ctx.Done():
			return 0, tr.ctx.Err()
		case <-time.After(tr.gap):
		}
	}
	tr.sent = true
	return copy(p, bytes.Repeat([]byte{0x47}, 752)), nil
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
