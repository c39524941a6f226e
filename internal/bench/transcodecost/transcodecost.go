// Package transcodecost is the "transcode" part of castnet's benchmark
// suite: what castnet's transcode path costs beside the same ffmpeg ladder
// run by hand, in CPU seconds and wall seconds per second of media, and
// their ratio (goal ≤ 1.05).
//
// The castnet path is an orchestrator child process (`castnet orchestrator
// -transcode local`) fed by the broadcaster's own client (netpool with the
// trust sealer: castnet/2 over HTTP, signed segments, checked receipts and
// renditions). The bare path is ffmpeg run with os/exec on the same
// segment file, with the argument list castnet's transcoder builds, so the
// two cannot drift apart. The two alternate segment by segment, so both
// see the same machine.
package transcodecost

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/transcode"
)

// method is Result.Method.
const method = "A 720p30 test pattern as `castnet publish -test-pattern` sends it (x264 baseline 2.5 Mb/s, " +
	"IDR every 1 s, no B-frames, 48 kHz Opus), in MPEG-TS cut into 2 s segments, goes through the default " +
	"ladder two ways, alternately segment by segment (which goes first alternates too). castnet: a `castnet " +
	"orchestrator -transcode local -capacity 1` child process, sent each segment by the broadcaster's client " +
	"(netpool + trust sealer: streamed castnet/2 upload, signed segment, receipt and rendition checks); its " +
	"CPU is the orchestrator's own plus its reaped ffmpeg children (/proc, read after the answer) plus this " +
	"process's CPU during the send, and its wall time runs from the request to the checked answer. Bare: the " +
	"very argument list castnet's transcoder builds (transcode.BuildArgs), run with os/exec, the segment file " +
	"as stdin; CPU from its rusage. The goal is judged on the pooled ratio (sum of castnet CPU over sum of " +
	"bare CPU); one warm-up segment each way is not counted. When it is missed, CPU profiles of the " +
	"orchestrator and the client over a few more segments show where the Go time goes."

// plan is how much a run does.
type plan struct {
	segments int // measured segments
	warmup   int // segments run both ways first, not counted
	profile  int // extra castnet segments profiled when the goal is missed
}

func planFor(short bool) plan {
	if short {
		return plan{segments: 2}
	}
	return plan{segments: 15, warmup: 1, profile: 3}
}

type part struct{}

// New returns the transcode-cost part.
func New() bench.Part { return part{} }

// Name is "transcode".
func (part) Name() string { return "transcode" }

// Run measures; see the package doc.
func (part) Run(ctx context.Context, env bench.Env) (*bench.Result, error) {
	started := time.Now()
	ffmpeg, err := exec.LookPath(orDefault(env.FFmpeg, "ffmpeg"))
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	dir, err := os.MkdirTemp("", "castnet-bench-transcode-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	pl := planFor(env.Short)
	env.Say("encoding %d s of 720p30 test pattern into %d s segments", pl.segments*segmentSeconds, segmentSeconds)
	segs, err := makeInput(ctx, ffmpeg, dir, pl.segments)
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	c, err := startCastnet(ctx, env.Exe, ffmpeg, dir, env.Log)
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	defer c.Close()
	args := transcode.BuildArgs(job(0, segs[0]))
	m := &measurer{c: c, ffmpeg: ffmpeg, args: args, dir: dir}
	samples, err := m.measure(ctx, env, segs, pl)
	if err != nil {
		return nil, fmt.Errorf("transcode: %w", err)
	}
	sum := summarize(samples)
	r := &bench.Result{Part: "transcode", Started: started, Short: env.Short, Method: method,
		Goals: []bench.Goal{goal(sum)}, Tables: tables(samples, sum)}
	if !r.Goals[0].Met && !env.Short {
		r.Notes = append(r.Notes, gapNote(sum))
		d := profileSeconds(samples, pl.profile)
		env.Say("goal missed: profiling the orchestrator and client for %v", d)
		p, err := c.profileSegments(ctx, segs, env.Out, d, pl.profile)
		if err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("profiling failed: %v", err))
		}
		r.Profiles, r.Notes = p.Files, append(r.Notes, p.Notes...)
	}
	r.Data = Data{Samples: samples, Summary: sum.jsonSafe(), FFmpegArgs: args, WarmupSegments: pl.warmup}
	r.Seconds = time.Since(started).Seconds()
	return r, nil
}

// Data is Result.Data: the raw per-segment figures and their summary.
type Data struct {
	Samples []Sample `json:"samples"`
	// Summary's ratios are -1 where they could not be computed.
	Summary Summary `json:"summary"`
	// FFmpegArgs is the argument list both paths ran.
	FFmpegArgs     []string `json:"ffmpeg_args"`
	WarmupSegments int      `json:"warmup_segments"`
}

// Sequence numbers of segments that are not measured, clear of the
// measured ones (0, 1, ...).
const (
	warmupSeq  = 900
	profileSeq = 1000
)

// measurer runs segments both ways.
type measurer struct {
	c      *castnetPath
	ffmpeg string
	args   []string
	dir    string
}

// measure runs the warm-up, then each segment both ways, alternating which
// path goes first.
func (m *measurer) measure(ctx context.Context, env bench.Env, segs []segment, pl plan) ([]Sample, error) {
	for i := range pl.warmup {
		env.Say("warm-up segment %d", i)
		if _, err := m.both(ctx, warmupSeq+i, segs[i%len(segs)], true); err != nil {
			return nil, err
		}
	}
	var out []Sample
	for i, seg := range segs {
		s, err := m.both(ctx, i, seg, i%2 == 0)
		if err != nil {
			return nil, err
		}
		env.Say("segment %d/%d: cpu castnet %.2f s, bare %.2f s (ratio %.3f); wall %.2f s, %.2f s",
			i+1, len(segs), s.CastnetCPU(), s.BareCPU, div(s.CastnetCPU(), s.BareCPU), s.CastnetWall, s.BareWall)
		out = append(out, s)
	}
	return out, nil
}

// both runs one segment through castnet and bare, in the order asked.
func (m *measurer) both(ctx context.Context, seq int, seg segment, castnetFirst bool) (Sample, error) {
	var c castnetRun
	var b bareRun
	var errC, errB error
	castnet := func() { c, errC = m.c.run(ctx, seq, seg) }
	bare := func() { b, errB = runBare(ctx, m.ffmpeg, m.args, seg, m.dir) }
	if castnetFirst {
		castnet()
		if errC == nil {
			bare()
		}
	} else {
		bare()
		if errB == nil {
			castnet()
		}
	}
	if err := errors.Join(errC, errB); err != nil {
		return Sample{}, err
	}
	return newSample(seq, seg, castnetFirst, c, b), nil
}

// profileSeconds is a CPU profile's length covering about n castnet
// segments at their median wall time, in whole seconds (pprof's unit).
func profileSeconds(samples []Sample, n int) time.Duration {
	walls := make([]float64, len(samples))
	for i, s := range samples {
		walls[i] = s.CastnetWall
	}
	w := bench.Median(walls)
	if math.IsNaN(w) {
		w = segmentSeconds
	}
	return time.Duration(max(2, math.Ceil(w*float64(n)))) * time.Second
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
