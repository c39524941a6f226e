package glass

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
	"github.com/castnet/castnet/internal/bench/procstat"
)

// connectors is how many viewers connect at once, about what a burst of
// page loads gives a node.
const connectors = 8

// Level is one viewer count's figures.
type Level struct {
	Viewers     int `json:"viewers"`
	Connected   int `json:"connected"`    // viewers receiving media
	Failed      int `json:"failed"`       // refused, or no media within packetTimeout
	NodeViewers int `json:"node_viewers"` // the node's own count (/api/streams/{stream})
	// Seconds is the CPU window; the cores are CPU time over it.
	Seconds      float64    `json:"seconds"`
	NodeCores    float64    `json:"node_cores"`
	BenchCores   float64    `json:"bench_cores"` // this process: publisher and viewers
	MachineCores float64    `json:"machine_cores"`
	CPUs         int        `json:"cpus"`
	Counts       LossCounts `json:"counts"`     // every viewer, both tracks
	LatencyMS    []float64  `json:"latency_ms"` // the measuring viewer's glass-to-glass
	FirstError   string     `json:"first_error,omitempty"`
}

// scale adds viewers level by level, keeping those of the last, and
// measures each level over the same window.
func (r *run) scale(ctx context.Context) error {
	var vs []*viewer
	defer func() { closeAll(vs) }()
	for _, n := range r.plan.levels {
		lvl := Level{Viewers: n}
		vs = r.connect(ctx, vs, n, &lvl)
		if len(vs) == 0 {
			return fmt.Errorf("no viewer connected: %s", lvl.FirstError)
		}
		if err := bench.Sleep(ctx, r.plan.settle); err != nil {
			return err
		}
		if err := r.measureLevel(ctx, vs, &lvl); err != nil {
			return err
		}
		r.data.Levels = append(r.data.Levels, lvl)
		r.env.Say("glass: %d viewers: node %.2f cores, %d of %d packets lost, viewer p50 %.0f ms",
			lvl.Connected, lvl.NodeCores, lvl.Counts.Lost, lvl.Counts.Packets+lvl.Counts.Lost, bench.Median(lvl.LatencyMS))
	}
	return nil
}

// connect brings the viewers up to n. The first is the measuring one.
func (r *run) connect(ctx context.Context, vs []*viewer, n int, lvl *Level) []*viewer {
	var mu sync.Mutex
	add := func(measure bool) {
		v, err := r.connectOne(ctx, measure)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if lvl.Failed++; lvl.FirstError == "" {
				lvl.FirstError = err.Error()
			}
			return
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		add(true)
	}
	sem := make(chan struct{}, connectors)
	var wg sync.WaitGroup
	for range n - len(vs) - lvl.Failed {
		sem <- struct{}{}
		wg.Go(func() { defer func() { <-sem }(); add(false) })
	}
	wg.Wait()
	lvl.Connected = len(vs)
	return vs
}

// connectOne starts a viewer and waits for its first packet.
func (r *run) connectOne(ctx context.Context, measure bool) (*viewer, error) {
	v, err := watchWHEP(ctx, r.viewAPI, r.client, r.whep(""), measure)
	if err != nil {
		return nil, err
	}
	wait := v.firstPkt
	if measure {
		wait = v.keyframe
	}
	if !waitFor(ctx, wait, packetTimeout) {
		v.close()
		return nil, errors.Join(fmt.Errorf("viewer got no media within %s", packetTimeout), ctx.Err())
	}
	return v, nil
}

// measureLevel reads the node's CPU and every viewer's packets over the
// window, then gives the last gaps fillWindow to be retransmitted.
func (r *run) measureLevel(ctx context.Context, vs []*viewer, lvl *Level) error {
	c0, cpu0 := sumCounts(vs, time.Now()), readCPU(r.node.PID())
	if err := bench.Sleep(ctx, r.plan.window); err != nil {
		return err
	}
	cpu1 := readCPU(r.node.PID())
	c1 := sumCounts(vs, cpu1.at)
	if err := bench.Sleep(ctx, fillWindow); err != nil {
		return err
	}
	lvl.Counts = sumCounts(vs, time.Now()).minus(c0)
	lvl.Counts.Packets = c1.Packets - c0.Packets
	lvl.LatencyMS = vs[0].samplesIn(cpu0.at, cpu1.at)
	lvl.Seconds = cpu1.at.Sub(cpu0.at).Seconds()
	lvl.NodeCores, lvl.BenchCores, lvl.MachineCores, lvl.CPUs = cores(cpu0, cpu1)
	var in struct {
		Viewers int `json:"viewers"`
	}
	if err := node.GetJSON(ctx, r.node.URL+"/api/streams/"+stream, &in); err == nil {
		lvl.NodeViewers = in.Viewers
	}
	return nil
}

func sumCounts(vs []*viewer, now time.Time) LossCounts {
	var c LossCounts
	for _, v := range vs {
		c = c.plus(v.counts(now))
	}
	return c
}

// closeAll ends viewers a few at a time; the node is stopped next, so
// their sessions need no DELETE.
func closeAll(vs []*viewer) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, v := range vs {
		sem <- struct{}{}
		wg.Go(func() { defer func() { <-sem }(); v.close() })
	}
	wg.Wait()
}

// cpuReading is the node's, this process's and the machine's CPU at one
// moment (procstat: /proc).
type cpuReading struct {
	at         time.Time
	node, self procstat.Proc
	machine    procstat.Machine
	ok         bool
}

func readCPU(pid int) cpuReading {
	c := cpuReading{at: time.Now()}
	var err1, err2, err3 error
	c.node, err1 = procstat.Read(pid)
	c.self, err2 = procstat.Read(os.Getpid())
	c.machine, err3 = procstat.ReadMachine()
	c.ok = err1 == nil && err2 == nil && err3 == nil
	return c
}

// cores is the CPU each used between a and b, in cores; zero when /proc
// could not be read.
func cores(a, b cpuReading) (nodeC, selfC, machineC float64, cpus int) {
	wall := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || wall <= 0 {
		return 0, 0, 0, 0
	}
	nodeC = (b.node.CPU() - a.node.CPU()).Seconds() / wall
	selfC = (b.self.CPU() - a.self.CPU()).Seconds() / wall
	return nodeC, selfC, procstat.Share(a.machine, b.machine) * float64(b.machine.CPUs), b.machine.CPUs
}
