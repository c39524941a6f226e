package netpool

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRankOrdersBySuspensionThenHealthThenFreeThenScore(t *testing.T) {
	c := func(name string, suspended, unhealthy, full bool, score float64) candidate {
		return candidate{node: &node{url: name}, suspended: suspended, unhealthy: unhealthy, full: full, score: score}
	}
	tests := []struct {
		name string
		in   []candidate
		want string
	}{
		{"lower score first", []candidate{c("slow", false, false, false, 0.9), c("fast", false, false, false, 0.1)}, "fast slow"},
		{"ties keep discovery order", []candidate{c("a", false, false, false, 0.5), c("b", false, false, false, 0.5)}, "a b"},
		{"full after free, whatever the score", []candidate{c("full", false, false, true, 0.1), c("free", false, false, false, 0.9)}, "free full"},
		{"failed probe after healthy, even if free", []candidate{c("sick", false, true, false, 0.1), c("busy", false, false, true, 0.9)}, "busy sick"},
		{"suspended for the stream last of all", []candidate{c("susp", true, false, false, 0.1), c("sick", false, true, true, 5)}, "sick susp"},
		{"within a class, by score", []candidate{c("s2", true, false, false, 0.7), c("s1", true, false, false, 0.2), c("ok", false, false, false, 3)}, "ok s1 s2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rank(tt.in)
			var got []string
			for _, c := range tt.in {
				got = append(got, c.node.url)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("order %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNodeScore(t *testing.T) {
	const seg, timeout = 2 * time.Second, 9 * time.Second
	tests := []struct {
		name string
		n    node
		want float64
	}{
		{"untried counts half a segment", node{}, 0.5},
		{"latency in segments", node{hasLatency: true, latency: 1, ok: 1, nrecent: 1}, 0.5},
		{"failures weigh it up", node{hasLatency: true, latency: 1, ok: 1, failed: 1, nrecent: 2, recent: [recentWindow]bool{true}}, 0.75},
		{"only failures count the attempt timeout", node{failed: 1, nrecent: 1, recent: [recentWindow]bool{true}}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.n.score(seg, timeout); got != tt.want {
				t.Errorf("score %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStreamSticksToItsOrchestratorWhileItPerforms(t *testing.T) {
	c := newFake()
	x, y := startNode(t, "ok"), startNode(t, "ok")
	x.useClock(c)
	x.setDelay(40 * time.Millisecond) // a fifth of a segment: performs, but slower than y
	p := newPool(t, Config{URLs: urls(x, y), SegmentDuration: 200 * time.Millisecond, Clock: c})
	for seq := range uint64(4) {
		mustTranscode(t, p, "a", seq)
	}
	if x.count() != 4 || y.count() != 0 {
		t.Fatalf("stream a: calls x %d y %d, want all 4 on one node (x, first of equals)", x.count(), y.count())
	}
	// Stream b fails on x and lands on y, which proves faster: y now ranks
	// first for newcomers.
	x.setMode("fail")
	mustTranscode(t, p, "b", 0)
	x.setMode("ok")
	if y.count() != 1 {
		t.Fatalf("stream b did not fail over to y: calls x %d y %d", x.count(), y.count())
	}
	for seq := uint64(4); seq < 7; seq++ {
		mustTranscode(t, p, "a", seq)
	}
	if x.count() != 8 || y.count() != 1 {
		t.Errorf("stream a left a performing node: calls x %d y %d, want 8 and 1", x.count(), y.count())
	}
	mustTranscode(t, p, "c", 0) // a new stream goes to the best node
	mustTranscode(t, p, "b", 1) // b stays where it landed
	if y.count() != 3 {
		t.Errorf("streams b and c: calls y %d, want 3", y.count())
	}
	if got := state(t, p, x.URL).Streams; !slices.Equal(got, []string{"a"}) {
		t.Errorf("x streams %q", got)
	}
	if got := state(t, p, y.URL).Streams; !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("y streams %q", got)
	}
}

func TestSuspensionIsPerStream(t *testing.T) {
	const suspend = time.Second
	c := newFake()
	log, logs := newLog()
	x, y, z := startNode(t, "ok"), startNode(t, "ok"), startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(x, y, z), Suspend: suspend, Logger: log, Clock: c})
	mustTranscode(t, p, "a", 1)
	mustTranscode(t, p, "b", 1)
	if x.count() != 2 {
		t.Fatalf("both streams should start on x: calls %d %d %d", x.count(), y.count(), z.count())
	}

	// x fails a's segment: a moves to y, b keeps x.
	x.setMode("fail")
	suspendedX := c.Now()
	mustTranscode(t, p, "a", 2)
	x.setMode("ok")
	mustTranscode(t, p, "b", 2)
	if x.count() != 4 || y.count() != 1 {
		t.Fatalf("calls x %d y %d, want a's failure and b's segment on x, a's retry on y", x.count(), y.count())
	}
	if s := state(t, p, x.URL); !slices.Equal(s.SuspendedFor, []string{"a"}) || !slices.Equal(s.Streams, []string{"b"}) {
		t.Errorf("x: suspended for %q, streams %q", s.SuspendedFor, s.Streams)
	}
	if logs.count("orchestrator failed a segment", "stream=a", "seq=2", "orchestrator="+x.URL) != 1 {
		t.Errorf("failover not logged once:\n%s", logs)
	}

	// While x is suspended for a, a failing on y goes to z, not back to x.
	c.Advance(400 * time.Millisecond)
	y.setMode("fail")
	mustTranscode(t, p, "a", 3)
	if x.count() != 4 || z.count() != 1 {
		t.Fatalf("a went back to a suspended node: calls x %d y %d z %d", x.count(), y.count(), z.count())
	}

	// Once x's suspension is over (and y's is not), x is a's next choice.
	c.Advance(suspendedX.Add(suspend - 1).Sub(c.Now()))
	if s := state(t, p, x.URL); !slices.Equal(s.SuspendedFor, []string{"a"}) {
		t.Fatalf("x suspended for %q just before %v, want a", s.SuspendedFor, suspend)
	}
	c.Advance(1)
	if s := state(t, p, x.URL); len(s.SuspendedFor) != 0 {
		t.Fatalf("x still suspended for %q after %v", s.SuspendedFor, suspend)
	}
	z.setMode("fail")
	mustTranscode(t, p, "a", 4)
	if x.count() != 5 || y.count() != 2 {
		t.Errorf("after the suspension: calls x %d y %d z %d, want a's retry on x", x.count(), y.count(), z.count())
	}
}

func TestSlowOrchestratorLosesTheStream(t *testing.T) {
	const seg = 100 * time.Millisecond
	tests := []struct {
		name  string
		delay time.Duration
		moves bool
	}{
		{"a node over one segment loses it", 3 * seg / 2, true},
		{"a node under one segment keeps it", seg / 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFake()
			log, logs := newLog()
			slow, fast := startNode(t, "ok"), startNode(t, "ok")
			slow.useClock(c)
			slow.setDelay(tt.delay)
			p := newPool(t, Config{URLs: urls(slow, fast), SegmentDuration: seg, Logger: log, Clock: c})
			for seq := range uint64(3) {
				mustTranscode(t, p, "a", seq)
			}
			wantSlow, wantFast := 3, 0
			if tt.moves {
				wantSlow, wantFast = 1, 2
			}
			if slow.count() != wantSlow || fast.count() != wantFast {
				t.Errorf("calls slow %d fast %d, want %d and %d", slow.count(), fast.count(), wantSlow, wantFast)
			}
			moved := logs.count("stream moved to another orchestrator", "stream=a", "seq=1", "orchestrator="+fast.URL, "latency score")
			if tt.moves != (moved == 1) {
				t.Errorf("move logged %d times:\n%s", moved, logs)
			}
		})
	}
}

func TestIdleStreamsAreForgotten(t *testing.T) {
	c := newFake()
	x := startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(x), StreamTTL: 100 * time.Millisecond, Clock: c})
	mustTranscode(t, p, "old", 1)
	c.Advance(150 * time.Millisecond)
	mustTranscode(t, p, "new", 1)
	if got := state(t, p, x.URL).Streams; !slices.Equal(got, []string{"new"}) {
		t.Errorf("streams %q, want the old one forgotten", got)
	}
	p.mu.Lock()
	n := len(p.streams)
	p.mu.Unlock()
	if n != 1 {
		t.Errorf("%d streams remembered", n)
	}
}

func TestConcurrentSegmentsOfOneStream(t *testing.T) {
	x, y := startNode(t, "ok"), startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(x, y)})
	errs := make(chan error, 8)
	for seq := range uint64(8) {
		go func() {
			_, err := p.Transcode(t.Context(), segJob("a", seq))
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if x.count()+y.count() != 8 || (x.count() != 8 && y.count() != 8) {
		t.Errorf("calls x %d y %d, want all 8 on one node", x.count(), y.count())
	}
}
