package broadcaster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
)

// clock is a settable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// endStream starts a session of name and waits until it has ended.
func endStream(t *testing.T, b *Broadcaster, name string) {
	t.Helper()
	sink := startStream(t, b, name)
	sink.Close(nil)
	waitEnded(t, b, name)
}

func startStream(t *testing.T, b *Broadcaster, name string) whip.Sink {
	t.Helper()
	sink, err := b.StartStream(context.Background(), whip.Publish{Stream: name, Session: "id-" + name,
		Video: media.CodecH264, RequestKeyframe: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	return sink
}

func waitEnded(t *testing.T, b *Broadcaster, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		b.mu.Lock()
		st := b.streams[name]
		kept := 0
		for _, r := range b.ended {
			if r.st == st {
				kept++
			}
		}
		b.mu.Unlock()
		if kept == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s never ended", name)
		}
	}
}

func TestEndedStreamAnswersUntilItsTTL(t *testing.T) {
	c := &clock{now: time.Unix(1_000_000, 0)}
	h := newPipelineConfig(t, nil, func(cfg *Config) { cfg.SourceOnly, cfg.Now, cfg.EndedTTL = true, c.Now, time.Minute })
	endStream(t, h.b, "gone")
	live := startStream(t, h.b, "on")
	defer live.Close(nil)
	c.Add(59 * time.Second)
	if in, err := h.b.Stream("gone"); err != nil || in.State != StateEnded {
		t.Fatalf("a stream ended 59s ago: %v %+v, want it listed as ended", err, in)
	}
	c.Add(time.Second)
	if _, err := h.b.Stream("gone"); !errors.Is(err, ErrNoStream) {
		t.Errorf("a stream ended a TTL ago: %v, want ErrNoStream", err)
	}
	if _, err := h.b.Stream("on"); err != nil {
		t.Errorf("a live stream is never forgotten: %v", err)
	}
}

func TestOnlyTheNewestEndedStreamsAreKept(t *testing.T) {
	h := newPipelineConfig(t, nil, func(cfg *Config) { cfg.SourceOnly, cfg.KeepEnded = true, 3 })
	for i := range 5 {
		endStream(t, h.b, fmt.Sprintf("e%d", i))
	}
	for i := range 5 {
		_, err := h.b.Stream(fmt.Sprintf("e%d", i))
		if kept := i >= 2; kept != (err == nil) {
			t.Errorf("e%d: %v, want kept %v (the last 3 ended)", i, err, kept)
		}
	}
}

// TestReusedNameIsOneRecord: a name published again replaces its ended
// record, so the bound counts streams, not sessions.
func TestReusedNameIsOneRecord(t *testing.T) {
	h := newPipelineConfig(t, nil, func(cfg *Config) { cfg.SourceOnly, cfg.KeepEnded = true, 2 })
	endStream(t, h.b, "a")
	endStream(t, h.b, "b")
	endStream(t, h.b, "b")
	endStream(t, h.b, "b")
	if _, err := h.b.Stream("a"); err != nil {
		t.Errorf("a was forgotten for sessions of b: %v", err)
	}
	h.b.mu.Lock()
	n := len(h.b.ended)
	h.b.mu.Unlock()
	if n != 2 {
		t.Errorf("%d ended records, want 2", n)
	}
}
