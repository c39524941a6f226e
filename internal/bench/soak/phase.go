package soak

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
)

// Sample is one reading of the node during the soak.
type Sample struct {
	// T is seconds since the soak started; Phase is "start", "soak",
	// "drain" (publishers stopped, node not yet idle) or "end".
	T     float64 `json:"t_s"`
	Phase string  `json:"phase"`
	// Publishers is how many the bench was running.
	Publishers int `json:"publishers"`
	Level
}

// soak runs the schedule against n, then waits for the node to notice
// that everyone has gone, lets it settle and reads the end.
func (r *run) soak(ctx context.Context, n *node.Node, fc fleetConfig) error {
	sched := Schedule(Plan{Seed: r.cfg.Seed, Slots: r.cfg.Publishers, MinLife: r.cfg.MinLife, MaxLife: r.cfg.MaxLife,
		Total: r.cfg.Duration, Ramp: min(r.cfg.Duration/10, 10*time.Second), ReuseGap: 30 * time.Second,
		Dropped: r.cfg.Dropped, Killed: r.cfg.Killed})
	r.data.Names = Names(sched)
	f := newFleet(fc)
	t0 := time.Now()
	start, err := r.sample(ctx, n, f, t0, "start")
	if err != nil {
		return err
	}
	r.data.Start = start
	r.startProf = heapProfile(ctx, r, n, "soak-heap-start.pb.gz")
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, s := range sched {
			if bench.Sleep(sctx, time.Until(t0.Add(s.At))) != nil {
				return
			}
			f.start(sctx, s)
		}
	}()
	err = r.sampleUntil(ctx, n, f, t0, t0.Add(r.cfg.Duration), "soak", nil)
	cancel()
	wg.Wait()
	f.wait()
	r.data.SoakPublishers, _ = f.counts()
	if err != nil {
		return err
	}
	return r.finish(ctx, n, f, t0)
}

// finish waits (bounded) for the node to list no live stream, settles, and
// reads the end level.
func (r *run) finish(ctx context.Context, n *node.Node, f *fleet, t0 time.Time) error {
	stopped := time.Now()
	idle := func() bool {
		live, _, err := countStreams(ctx, n, 0)
		return err == nil && live == 0
	}
	if err := r.sampleUntil(ctx, n, f, t0, stopped.Add(r.cfg.Drain), "drain", idle); err != nil {
		return err
	}
	r.data.DrainSeconds = time.Since(stopped).Seconds()
	if !idle() {
		r.note("the node still listed live streams %s after the publishers stopped", r.cfg.Drain)
	}
	if err := bench.Sleep(ctx, r.cfg.Settle); err != nil {
		return err
	}
	end, err := r.sample(ctx, n, f, t0, "end")
	if err != nil {
		return err
	}
	r.data.End = end
	if !allMet(checkGoals(r.data.Start, end)) {
		r.explainMiss(ctx, n)
	}
	r.explainEnd(ctx, n)
	return nil
}

// sampleUntil samples every cfg.Every until deadline, or until done
// (polled each second) reports true.
func (r *run) sampleUntil(ctx context.Context, n *node.Node, f *fleet, t0, deadline time.Time, phase string, done func() bool) error {
	next := time.Now().Add(r.cfg.Every)
	for {
		now := time.Now()
		if !now.Before(deadline) || (done != nil && done()) {
			return nil
		}
		wait := min(next.Sub(now), deadline.Sub(now))
		if done != nil {
			wait = min(wait, time.Second)
		}
		if err := bench.Sleep(ctx, wait); err != nil {
			return err
		}
		if time.Now().Before(next) {
			continue
		}
		next = next.Add(r.cfg.Every)
		if _, err := r.sample(ctx, n, f, t0, phase); err != nil {
			return err
		}
	}
}

// sample reads the node, keeps the sample and says it.
func (r *run) sample(ctx context.Context, n *node.Node, f *fleet, t0 time.Time, phase string) (Level, error) {
	lv, err := readLevel(ctx, n)
	if err != nil {
		return lv, err
	}
	tally, running := f.counts()
	s := Sample{T: time.Since(t0).Seconds(), Phase: phase, Publishers: running, Level: lv}
	r.data.Samples = append(r.data.Samples, s)
	r.env.Say("soak %4.0fs %-5s publishers %2d (started %d, errors %d)  live %2d  goroutines %4d  heap %5.1f MiB  RSS %5.1f MiB  fds %3d",
		s.T, phase, running, tally.Started, tally.Errors, lv.Live, lv.Goroutines,
		mibs(float64(lv.HeapAlloc)), mibs(float64(lv.RSS)), lv.OpenFDs)
	return lv, nil
}

// explainMiss writes a goroutine dump and a heap profile of the node at
// the end and names their largest parts.
func (r *run) explainMiss(ctx context.Context, n *node.Node) {
	const dump = "soak-goroutines-end.txt"
	top, err := goroutineDump(ctx, n, r.env.Out, dump, 5)
	if err != nil {
		r.note("goroutine dump: %v", err)
	} else {
		r.res.Profiles = append(r.res.Profiles, dump)
		r.note("a goal was missed; largest goroutine groups at the end: %v", top)
	}
}

// explainEnd profiles the heap at the end and says what the soak left
// over its start.
func (r *run) explainEnd(ctx context.Context, n *node.Node) {
	prof := heapProfile(ctx, r, n, "soak-heap-end.pb.gz")
	if prof == "" || r.startProf == "" {
		return
	}
	lines, err := pprofTop(ctx, r.env.Out, prof, r.startProf, 8)
	switch {
	case err != nil:
		r.note("pprof: %v", err)
	case len(lines) > 0:
		r.note("heap the soak left over its start (go tool pprof -top -sample_index=inuse_space -diff_base %s %s): %s",
			r.startProf, prof, strings.Join(lines, "; "))
	}
}
