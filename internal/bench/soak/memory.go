package soak

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
)

// PerStream is the node's level with Streams streams held, and what each
// stream adds to the idle level.
type PerStream struct {
	Streams int   `json:"streams"`
	Level   Level `json:"level"`
	// RSS, Heap (after GC) and Goroutines per stream, over the idle node.
	RSS        float64 `json:"rss_per_stream_bytes"`
	Heap       float64 `json:"heap_per_stream_bytes"`
	Goroutines float64 `json:"goroutines_per_stream"`
}

// perStreamOf divides what lv adds to idle by its live streams.
func perStreamOf(idle, lv Level) PerStream {
	p := PerStream{Streams: lv.Live, Level: lv}
	if lv.Live > 0 {
		n := float64(lv.Live)
		p.RSS = float64(lv.RSS-idle.RSS) / n
		p.Heap = (float64(lv.HeapAlloc) - float64(idle.HeapAlloc)) / n
		p.Goroutines = float64(lv.Goroutines-idle.Goroutines) / n
	}
	return p
}

// perStream reads the idle node, then holds each count of streams in turn
// (adding publishers to those already held) and reads it again once they
// are steady. It leaves the node with no stream live.
func (r *run) perStream(ctx context.Context, n *node.Node, fc fleetConfig) error {
	idle, err := readLevel(ctx, n)
	if err != nil {
		return err
	}
	r.data.Idle = idle
	r.env.Say("idle node: %d goroutines, heap %.1f MiB, RSS %.1f MiB, %d fds",
		idle.Goroutines, mibs(float64(idle.HeapAlloc)), mibs(float64(idle.RSS)), idle.OpenFDs)
	idleProf := heapProfile(ctx, r, n, "soak-heap-idle.pb.gz")
	f := newFleet(fc)
	hold, stop := context.WithCancel(ctx)
	defer func() { stop(); f.wait() }()
	counts := slices.Sorted(slices.Values(r.cfg.Counts))
	held := 0
	for _, c := range counts {
		for ; held < c; held++ {
			f.start(hold, Spawn{Name: fmt.Sprintf("mem-%03d", held), End: EndClean})
			if err := bench.Sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
		// A stream with a segment cut has its whole pipeline running.
		if live, err := waitLive(ctx, n, 1, 30*time.Second, func(l int) bool { return l >= c }); err != nil {
			r.note("memory per stream: only %d of %d streams live: %v", live, c, err)
		}
		if err := bench.Sleep(ctx, r.cfg.Steady); err != nil {
			return err
		}
		lv, err := readLevel(ctx, n)
		if err != nil {
			return err
		}
		p := perStreamOf(idle, lv)
		r.data.PerStream = append(r.data.PerStream, p)
		r.env.Say("%d streams: RSS +%.0f KiB, heap +%.0f KiB, +%.1f goroutines per stream",
			p.Streams, p.RSS/1024, p.Heap/1024, p.Goroutines)
	}
	r.explainHeap(ctx, n, held, idleProf)
	stop()
	f.wait()
	r.data.MemoryPublishers, _ = f.counts()
	if _, err := waitLive(ctx, n, 0, r.cfg.Drain, func(l int) bool { return l == 0 }); err != nil {
		r.note("memory per stream: streams still live after the publishers stopped: %v", err)
	}
	return bench.Sleep(ctx, r.cfg.Settle)
}

// explainHeap profiles the heap with the streams held and says what they
// hold over the idle node.
func (r *run) explainHeap(ctx context.Context, n *node.Node, streams int, idleProf string) {
	prof := heapProfile(ctx, r, n, fmt.Sprintf("soak-heap-%dstreams.pb.gz", streams))
	if prof == "" || idleProf == "" {
		return
	}
	top, err := pprofTop(ctx, r.env.Out, prof, idleProf, 8)
	switch {
	case err != nil:
		r.note("pprof: %v", err)
	case len(top) > 0:
		r.note("heap held by %d streams over the idle node (go tool pprof -top -sample_index=inuse_space -diff_base %s %s): %s",
			streams, idleProf, prof, strings.Join(top, "; "))
	}
}
