package soak

import (
	"fmt"

	"github.com/castnet/castnet/internal/bench"
)

// What the end of the soak may hold over its start, and why.
const (
	// goroutineSlack covers goroutines that come and go with no stream:
	// the node's side of a keep-alive HTTP connection that the bench or a
	// publisher left idle, a timer's or the runtime's own workers. A
	// session leaks ten or more (pion's readers, the pipeline's stages),
	// so one leaked session fails.
	goroutineSlack = 5
	// heapFactor and heapSlack allow the heap after GC to end up to a
	// quarter and 2 MiB above its start: the node keeps, by design, a
	// small record of each recently ended stream (listed by /api/streams,
	// at most -keep-ended of them), and the runtime's and pion's pools
	// keep what the last busy moment grew. A leak of a session's buffers
	// over hundreds of sessions is far more (see the note on sensitivity).
	heapFactor = 1.25
	heapSlack  = 2 << 20
	// fdSlack covers idle keep-alive connections, as goroutineSlack does;
	// a leaked session leaves a UDP socket or a segment file open per
	// session, hundreds over the soak.
	fdSlack = 4
)

// checkGoals compares the soak's end with its start.
func checkGoals(start, end Level) []bench.Goal {
	heapLimit := float64(start.HeapAlloc)*heapFactor + heapSlack
	return []bench.Goal{
		{Name: "goroutines back to start",
			Target:   fmt.Sprintf("≤ start + %d (%d)", goroutineSlack, start.Goroutines+goroutineSlack),
			Measured: fmt.Sprintf("%d → %d (%+d)", start.Goroutines, end.Goroutines, end.Goroutines-start.Goroutines),
			Met:      end.Goroutines <= start.Goroutines+goroutineSlack},
		{Name: "heap after GC back to start",
			Target:   fmt.Sprintf("≤ start × %.2f + %d MiB (%.1f MiB)", heapFactor, heapSlack/mib, mibs(heapLimit)),
			Measured: fmt.Sprintf("%.1f → %.1f MiB", mibs(float64(start.HeapAlloc)), mibs(float64(end.HeapAlloc))),
			Met:      float64(end.HeapAlloc) <= heapLimit},
		{Name: "open FDs back to start",
			Target:   fmt.Sprintf("≤ start + %d (%d)", fdSlack, start.OpenFDs+fdSlack),
			Measured: fmt.Sprintf("%d → %d (%+d)", start.OpenFDs, end.OpenFDs, end.OpenFDs-start.OpenFDs),
			Met:      start.OpenFDs >= 0 && end.OpenFDs <= start.OpenFDs+fdSlack},
	}
}

func allMet(goals []bench.Goal) bool {
	for _, g := range goals {
		if !g.Met {
			return false
		}
	}
	return true
}

// thin keeps at most n of xs, evenly spread, the first and last always.
func thin[T any](xs []T, n int) []T {
	if len(xs) <= n || n < 2 {
		return xs
	}
	out := make([]T, 0, n)
	for i := range n {
		out = append(out, xs[i*(len(xs)-1)/(n-1)])
	}
	return out
}

// report turns the data into goals, tables and notes.
func (r *run) report() {
	d := r.data
	r.res.Goals = checkGoals(d.Start, d.End)
	r.res.Tables = append(r.res.Tables, memoryTable(d), levelTable(d), sampleTable(d.Samples), publisherTable(d))
	if s := d.SoakPublishers.Started; s > 0 {
		allow := float64(d.Start.HeapAlloc)*(heapFactor-1) + heapSlack
		r.note("sensitivity: the heap allowance (%.1f MiB) spread over the soak's %d sessions is %.1f KiB each, "+
			"so a leak of more than that per session fails the heap goal; one leaked session fails the goroutine goal.",
			mibs(allow), s, allow/float64(s)/1024)
	}
	if d.Start.Live == 0 && d.Start.Known > 0 {
		// Nothing is live at the soak's start: what the heap holds over the
		// fresh node is the records of the streams that have ended.
		r.note("ended streams: the node keeps a record of each of the %d recently ended streams it lists (/api/streams, at most -keep-ended); "+
			"with none live they hold %.1f MiB of heap over the idle node, %.0f KiB per ended stream.",
			d.Start.Known, mibs(float64(d.Start.HeapAlloc)-float64(d.Idle.HeapAlloc)),
			(float64(d.Start.HeapAlloc)-float64(d.Idle.HeapAlloc))/float64(d.Start.Known)/1024)
	}
	r.note("RSS is information, not a goal: the Go runtime returns freed pages to the OS lazily (scavenger), " +
		"so RSS after a busy spell stays above its start for minutes without any leak.")
	for _, e := range append(d.MemoryPublishers.FirstErrors, d.SoakPublishers.FirstErrors...) {
		r.note("publisher error: %s", e)
	}
}

func memoryTable(d *Data) bench.Table {
	t := bench.Table{Title: "memory per stream (castnet dev -source-only; per stream = over the idle node ÷ streams)",
		Columns: []string{"streams", "RSS MiB", "heap MiB", "goroutines", "RSS/stream KiB", "heap/stream KiB", "goroutines/stream"}}
	t.Add(0, mibs(float64(d.Idle.RSS)), mibs(float64(d.Idle.HeapAlloc)), d.Idle.Goroutines, "-", "-", "-")
	for _, p := range d.PerStream {
		t.Add(p.Streams, mibs(float64(p.Level.RSS)), mibs(float64(p.Level.HeapAlloc)), p.Level.Goroutines,
			p.RSS/1024, p.Heap/1024, p.Goroutines)
	}
	if len(d.PerStream) >= 2 {
		a, b := d.PerStream[len(d.PerStream)-2], d.PerStream[len(d.PerStream)-1]
		if n := float64(b.Streams - a.Streams); n > 0 {
			t.Add(fmt.Sprintf("%d→%d", a.Streams, b.Streams), "-", "-", "-",
				float64(b.Level.RSS-a.Level.RSS)/n/1024, (float64(b.Level.HeapAlloc)-float64(a.Level.HeapAlloc))/n/1024,
				float64(b.Level.Goroutines-a.Level.Goroutines)/n)
		}
	}
	return t
}

func levelTable(d *Data) bench.Table {
	t := bench.Table{Title: "soak: start and end (after GC; idle = the fresh node before any stream)",
		Columns: []string{"", "idle", "soak start", "soak end", "end − start"}}
	bytesRow := func(name string, f func(Level) float64) {
		t.Add(name, mibs(f(d.Idle)), mibs(f(d.Start)), mibs(f(d.End)), mibs(f(d.End)-f(d.Start)))
	}
	countRow := func(name string, f func(Level) int) {
		t.Add(name, f(d.Idle), f(d.Start), f(d.End), fmt.Sprintf("%+d", f(d.End)-f(d.Start)))
	}
	countRow("goroutines", func(l Level) int { return l.Goroutines })
	bytesRow("heap alloc MiB", func(l Level) float64 { return float64(l.HeapAlloc) })
	bytesRow("heap in use MiB", func(l Level) float64 { return float64(l.HeapInUse) })
	bytesRow("stacks MiB", func(l Level) float64 { return float64(l.StackInUse) })
	bytesRow("RSS MiB", func(l Level) float64 { return float64(l.RSS) })
	countRow("open FDs", func(l Level) int { return l.OpenFDs })
	countRow("threads", func(l Level) int { return l.Threads })
	countRow("streams listed (ended kept)", func(l Level) int { return l.Known })
	return t
}

func sampleTable(samples []Sample) bench.Table {
	t := bench.Table{Title: fmt.Sprintf("soak samples (%d, at most 20 shown; all in the JSON)", len(samples)),
		Columns: []string{"t s", "phase", "publishers", "live", "goroutines", "heap MiB", "RSS MiB", "FDs"}}
	for _, s := range thin(samples, 20) {
		t.Add(fmt.Sprintf("%.0f", s.T), s.Phase, s.Publishers, s.Live, s.Goroutines,
			mibs(float64(s.HeapAlloc)), mibs(float64(s.RSS)), s.OpenFDs)
	}
	return t
}

func publisherTable(d *Data) bench.Table {
	t := bench.Table{Title: "publishers", Columns: []string{"phase", "started", "clean (DELETE)", "dropped (no DELETE)", "killed (SIGKILL)", "errors"}}
	for _, p := range []struct {
		name string
		t    Tally
	}{{"memory per stream", d.MemoryPublishers}, {"soak", d.SoakPublishers}} {
		t.Add(p.name, p.t.Started, p.t.Clean, p.t.Dropped, p.t.Killed, p.t.Errors)
	}
	t.Add(fmt.Sprintf("soak used %d stream names; drain took %.1f s", d.Names, d.DrainSeconds), "", "", "", "", "")
	return t
}
