package soak

import (
	"context"
	"fmt"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
)

// Level is one reading of the node: its Go runtime after a collection,
// its resident memory, and what /api/streams lists.
type Level struct {
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc_bytes"` // after GC: the live heap
	HeapInUse  uint64 `json:"heap_inuse_bytes"`
	StackInUse uint64 `json:"stack_inuse_bytes"`
	Sys        uint64 `json:"sys_bytes"`
	RSS        int64  `json:"rss_bytes"`
	OpenFDs    int    `json:"open_fds"`
	Threads    int    `json:"threads"`
	// Live counts live streams; Known every stream the node lists, ended
	// ones included.
	Live  int `json:"live_streams"`
	Known int `json:"known_streams"`
}

// streamInfo is the part of /api/streams this package reads.
type streamInfo struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Segments uint64 `json:"segments"`
}

// readLevel collects the node's garbage, then reads its counters.
func readLevel(ctx context.Context, n *node.Node) (Level, error) {
	live, known, err := countStreams(ctx, n, 0)
	if err != nil {
		return Level{}, err
	}
	rt, err := n.Runtime(ctx, true)
	if err != nil {
		return Level{}, err
	}
	ps, err := n.Stat()
	if err != nil {
		return Level{}, err
	}
	return Level{Goroutines: rt.Goroutines, HeapAlloc: rt.HeapAlloc, HeapInUse: rt.HeapInUse,
		StackInUse: rt.StackInUse, Sys: rt.Sys, RSS: ps.RSS, OpenFDs: rt.OpenFDs, Threads: ps.Threads,
		Live: live, Known: known}, nil
}

// countStreams counts the live streams, and those live with at least
// minSegments cut, and every stream listed.
func countStreams(ctx context.Context, n *node.Node, minSegments uint64) (live, known int, err error) {
	var list []streamInfo
	if err := node.GetJSON(ctx, n.URL+"/api/streams", &list); err != nil {
		return 0, 0, err
	}
	for _, s := range list {
		if s.State == "live" && s.Segments >= minSegments {
			live++
		}
	}
	return live, len(list), nil
}

// waitLive polls /api/streams until pred holds for the number of live
// streams that have cut minSegments segments, or until limit. It returns
// the last count.
func waitLive(ctx context.Context, n *node.Node, minSegments uint64, limit time.Duration, pred func(int) bool) (int, error) {
	deadline := time.Now().Add(limit)
	for {
		live, _, err := countStreams(ctx, n, minSegments)
		if err == nil && pred(live) {
			return live, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%w: %d streams after %s", errNotSettled, live, limit)
			}
			return live, err
		}
		if err := bench.Sleep(ctx, 500*time.Millisecond); err != nil {
			return live, err
		}
	}
}

const mib = 1 << 20

func mibs(b float64) float64 { return b / mib }
