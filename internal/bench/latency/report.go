package latency

import (
	"fmt"
	"math"
	"time"

	"github.com/castnet/castnet/internal/bench"
)

// Data is the part's raw figures, Result.Data.
type Data struct {
	SegmentMS  float64  `json:"segment_ms"`
	Renditions []string `json:"renditions"`
	// GoLive holds one entry per go-live iteration.
	GoLive []GoLive `json:"go_live"`
	// Turnaround holds the one-stream phase, then the loaded one.
	Turnaround []TurnaroundRun `json:"turnaround"`
	// BareLadderMS are the bare ladder runs in the order taken: before the
	// first phase, after each, then any more the plan asks for.
	BareLadderMS []float64 `json:"bare_ladder_ms"`
	// BareArgs is the ffmpeg argument list of the bare runs, the node's
	// own (transcode.BuildArgs).
	BareArgs []string `json:"bare_args"`
	// Load is the machine's load during each phase.
	Load []Load `json:"load"`
}

// Goal shares of the segment duration.
const (
	goLiveSlack = time.Second // go-live p50 ≤ segment + 1 s (issue 2)
	p95Share    = 0.30        // turnaround p95 ≤ 30 % of the segment (issue 3)
	p99Share    = 0.50        // turnaround p99 ≤ 50 % of the segment (this part)
)

const method = "castnet dev runs as a child process with the default ladder (a 720p30 source gives " +
	"source, 480p and 360p) and 2 s segments; every publisher is castnet's WHIP client sending the " +
	"720p30 2.5 Mb/s test pattern (IDR every second) in real time from this process. Go-live: a new " +
	"stream per iteration, timed from the moment the WHIP offer is about to be sent (the click) until " +
	"every rendition's media playlist, reached from the multivariant playlist over HTTP, lists a first " +
	"segment whose GET returns 200 with MPEG-TS packets (polled every 20 ms); the node's own " +
	"first_segment_latency (first keyframe to every playlist) is shown beside it. Turnaround: the node " +
	"times each segment from its last byte to every rendition published; the per-segment values come from " +
	"/api/streams/{stream}?turnarounds=1, one stream alone, then two at once started a segment's half " +
	"apart, quantiles interpolated over the pooled segments. Baseline, same run: the node's own ffmpeg " +
	"argument list (transcode.BuildArgs) on one complete 2 s 720p30 segment from a file, what a pipeline " +
	"that does not stream spends after the cut; run before the first phase and after each, median taken. " +
	"The go-live floor of such a pipeline is the segment plus that time (no handshake counted)."

// result assembles goals, tables and notes.
func (r *run) result(started time.Time) *bench.Result {
	d := r.data
	seg := d.SegmentMS
	bare := r.bare.medianMS()
	floor := seg + bare
	var play, nodeFirst []float64
	for _, g := range d.GoLive {
		play, nodeFirst = append(play, g.PlayableMS), append(nodeFirst, g.NodeMS)
	}
	one := d.Turnaround[0].pooled()
	res := &bench.Result{Part: "latency", Started: started, Seconds: time.Since(started).Seconds(),
		Short: r.env.Short, Method: method, Data: d}
	res.Goals = []bench.Goal{
		goal("go-live → first playable in every rendition, p50", median(play), seg+ms1(goLiveSlack), "segment + 1 s", floor, "floor"),
		goal("segment turnaround p95, one stream", quantile(one, 0.95), p95Share*seg, "30 % of the segment", bare, "bare"),
		goal("segment turnaround p99, one stream", quantile(one, 0.99), p99Share*seg, "50 % of the segment", bare, "bare"),
	}
	res.Tables = []bench.Table{r.goLiveTable(play, nodeFirst, floor), r.turnaroundTable(bare), loadTable(d.Load)}
	res.Notes = r.notes(play, one)
	return res
}

// goal is one goal row; its measured cell gives the ratio to the baseline
// too.
func goal(name string, got, limit float64, what string, base float64, baseName string) bench.Goal {
	return bench.Goal{Name: name, Target: fmt.Sprintf("≤ %.0f ms (%s)", limit, what),
		Measured: fmt.Sprintf("%.0f ms (%s × %s)", got, bench.FormatFloat(got/base), baseName), Met: got <= limit}
}

func (r *run) goLiveTable(play, nodeFirst []float64, floor float64) bench.Table {
	t := bench.Table{Title: fmt.Sprintf("Go-live → first segment playable in every rendition (%d streams; ms)", len(play)),
		Columns: []string{"measure", "n", "p50", "p95", "max", "p50 ÷ floor"}}
	row := func(name string, xs []float64) {
		t.Add(name, len(xs), median(xs), quantile(xs, 0.95), slicesMax(xs), median(xs)/floor)
	}
	row("castnet: WHIP offer → every rendition fetched over HTTP", play)
	row("castnet: first keyframe → every playlist (node's first_segment_latency)", nodeFirst)
	t.Add("floor without streaming: segment + bare ladder", len(r.bare.runs), floor, "-", r.data.SegmentMS+slicesMax(r.data.BareLadderMS), 1.0)
	return t
}

func (r *run) turnaroundTable(bare float64) bench.Table {
	t := bench.Table{Title: "Segment turnaround: last byte at the broadcaster → every rendition published (ms)",
		Columns: []string{"load", "segments", "p50", "p95", "p99", "max", "p50 ÷ bare", "p95 ÷ bare", "p99 ÷ bare", "p95 ÷ segment"}}
	for _, run := range r.data.Turnaround {
		xs := run.pooled()
		p50, p95, p99 := median(xs), quantile(xs, 0.95), quantile(xs, 0.99)
		label := "castnet, 1 stream"
		if run.Streams > 1 {
			label = fmt.Sprintf("castnet, %d streams at once", run.Streams)
		}
		t.Add(label, len(xs), p50, p95, p99, slicesMax(xs), p50/bare, p95/bare, p99/bare, p95/r.data.SegmentMS)
	}
	runs := r.data.BareLadderMS
	t.Add("bare ladder on the complete segment (runs)", len(runs), bare, quantile(runs, 0.95), "-", slicesMax(runs),
		1.0, "-", "-", bare/r.data.SegmentMS)
	return t
}

func loadTable(loads []Load) bench.Table {
	cpus := 0
	for _, l := range loads {
		cpus = max(cpus, l.CPUs)
	}
	t := bench.Table{Title: fmt.Sprintf("Machine during each phase (cores busy, of %d)", cpus),
		Columns: []string{"phase", "seconds", "machine", "node + its ffmpeg", "publishers + poller", "other processes"}}
	for _, l := range loads {
		t.Add(l.Phase, l.Seconds, l.Machine, l.Node, l.Self, l.Other)
	}
	return t
}

// notes say what the sample counts allow and what may have disturbed the
// figures.
func (r *run) notes(play, one []float64) []string {
	var n []string
	if len(play) < 20 {
		n = append(n, fmt.Sprintf("go-live has %d samples: p95 is interpolated between the largest values and max is the one to read.", len(play)))
	}
	if len(one) < 100 {
		n = append(n, fmt.Sprintf("turnaround p99 over %d segments interpolates between the two largest, so it is close to the max; "+
			"it is a goal (≤ 50 %% of the segment) because a tail past half a segment delays the next segment's in-order "+
			"publishing and eats a live player's buffer.", len(one)))
	}
	for _, t := range r.data.Turnaround {
		if s := t.sourceOnly(); s > 0 {
			n = append(n, fmt.Sprintf("%d stream(s): %d segments were published source only (transcode failed or capacity was full); their turnaround is counted.", t.Streams, s))
		}
	}
	for _, l := range r.data.Load {
		if l.CPUs > 0 && l.Other > 0.25*float64(l.CPUs) {
			n = append(n, fmt.Sprintf("other processes kept %.1f of %d cores busy during %q: figures of that phase are pessimistic.", l.Other, l.CPUs, l.Phase))
		}
	}
	return n
}

func ms1(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func ms(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = ms1(d)
	}
	return out
}

func median(xs []float64) float64 { return bench.Median(xs) }

func quantile(xs []float64, q float64) float64 { return bench.Quantile(xs, q) }

func slicesMax(xs []float64) float64 {
	m := math.NaN()
	for i, x := range xs {
		if i == 0 || x > m {
			m = x
		}
	}
	return m
}
