// Package latency is the latency part of castnet's benchmark suite (issue
// 5, item 3): the time from going live to the first playable segment in
// every rendition, and segment turnaround (a segment's last byte at the
// broadcaster to every rendition of it published) at p50, p95 and p99, one
// stream alone and two at once. Each figure stands beside a bare baseline
// taken in the same run: the node's own ffmpeg ladder run by hand on one
// complete segment, which is what a pipeline that does not stream needs
// after the cut.
package latency

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
	"github.com/castnet/castnet/internal/publish"
	"github.com/castnet/castnet/internal/transcode"
)

// segment is the node's segment duration, set on its command line so the
// goals computed from it cannot disagree with what the node cuts.
const segment = 2 * time.Second

// Bounds on waiting for the node; a healthy node is far inside them.
const (
	goLiveTimeout = 30 * time.Second
	endTimeout    = 30 * time.Second
	pollEvery     = 20 * time.Millisecond
)

// plan sizes a run.
type plan struct {
	goLives     int           // go-live iterations, one publisher each in turn
	single      time.Duration // one publisher alone, for turnaround
	loaded      time.Duration // loadStreams publishers at once
	loadStreams int
	bareRuns    int // at least this many bare ladder runs
}

// planFor fits the full run in about 2.5 minutes on two cores (about 35
// segments alone, 30 under load, 5 go-lives) and the smoke run in about
// 30 s.
func planFor(short bool) plan {
	if short {
		return plan{goLives: 1, single: 6 * time.Second, loaded: 4 * time.Second, loadStreams: 2, bareRuns: 3}
	}
	return plan{goLives: 5, single: 50 * time.Second, loaded: 24 * time.Second, loadStreams: 2, bareRuns: 5}
}

type part struct{}

// New returns the latency part.
func New() bench.Part { return part{} }

// Name is "latency".
func (part) Name() string { return "latency" }

// Run starts `castnet dev`, measures go-live and turnaround with real WHIP
// publishers, and times the bare ladder between the phases.
func (part) Run(ctx context.Context, env bench.Env) (*bench.Result, error) {
	started := time.Now()
	if env.FFmpeg == "" {
		env.FFmpeg = "ffmpeg"
	}
	if _, err := exec.LookPath(env.FFmpeg); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	dir, err := os.MkdirTemp("", "castnet-latency-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &run{env: env, plan: planFor(env.Short)}
	defer r.close()
	if err := r.setup(ctx, dir); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	if err := r.measure(ctx); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	return r.result(started), nil
}

// run is one Run's state.
type run struct {
	env    bench.Env
	plan   plan
	node   *node.Node
	media  *publish.Media
	bare   *bareLadder
	client *http.Client
	probe  prober
	want   int // renditions every stream must reach
	data   Data
}

func (r *run) setup(ctx context.Context, dir string) error {
	ladder := transcode.Ladder(transcode.DefaultLadder(), srcW, srcH)
	r.want = len(ladder)
	for _, p := range ladder {
		r.data.Renditions = append(r.data.Renditions, p.Name)
	}
	r.data.SegmentMS = ms1(segment)
	r.env.Say("latency: encoding the test pattern and the bare segment")
	var err error
	if r.media, err = publish.Prepare(ctx, r.publishConfig("", 0)); err != nil {
		return err
	}
	if r.bare, err = newBareLadder(ctx, r.env.FFmpeg, dir, segment); err != nil {
		return err
	}
	r.data.BareArgs = r.bare.args
	r.node, err = node.Start(ctx, r.env.Exe, "dev", "-data", filepath.Join(dir, "data"),
		"-segment", segment.String(), "-ffmpeg", r.env.FFmpeg)
	if err != nil {
		return err
	}
	r.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 10 * time.Second}
	r.probe = prober{client: r.client, base: r.node.URL, every: pollEvery}
	return nil
}

func (r *run) close() {
	if r.node != nil {
		r.node.Stop()
	}
	if r.media != nil {
		_ = r.media.Close()
	}
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
}

// publishConfig is `castnet publish -test-pattern` at 720p30, 2.5 Mb/s,
// into stream for d (0: until its context ends).
func (r *run) publishConfig(stream string, d time.Duration) publish.Config {
	cfg := publish.Config{TestPattern: true, Width: srcW, Height: srcH, FPS: srcFPS, Bitrate: srcBitrate,
		Duration: d, FFmpeg: r.env.FFmpeg, Logger: r.env.Log}
	if stream != "" {
		cfg.URL = r.node.URL + "/whip/" + stream
	}
	return cfg
}

// measure runs the phases, each with its machine load, with a bare ladder
// run before the first and after each, so that the baseline sees the same
// machine over the run as castnet does.
func (r *run) measure(ctx context.Context) error {
	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"go-live", r.goLives},
		{"turnaround, 1 stream", func(ctx context.Context) error { return r.turnaround(ctx, 1, r.plan.single) }},
		{fmt.Sprintf("turnaround, %d streams", r.plan.loadStreams),
			func(ctx context.Context) error { return r.turnaround(ctx, r.plan.loadStreams, r.plan.loaded) }},
	}
	if err := r.bareRun(ctx); err != nil {
		return err
	}
	for _, p := range phases {
		m := startMeter(r.node.PID())
		if err := p.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w\nnode log:\n%s", p.name, err, r.node.Logs())
		}
		r.data.Load = append(r.data.Load, m.stop(p.name))
		if err := r.bareRun(ctx); err != nil {
			return err
		}
	}
	for len(r.bare.runs) < r.plan.bareRuns {
		if err := r.bareRun(ctx); err != nil {
			return err
		}
	}
	r.data.BareLadderMS = ms(r.bare.runs)
	return nil
}

func (r *run) bareRun(ctx context.Context) error {
	d, err := r.bare.run(ctx)
	if err == nil {
		r.env.Say("latency: bare ladder on a complete %s segment: %s", segment, d.Round(time.Millisecond))
	}
	return err
}

// streamInfo reads the node's /api/streams/{stream} with the recent
// turnarounds listed.
func (r *run) streamInfo(ctx context.Context, stream string) (streamInfo, error) {
	var in streamInfo
	err := node.GetJSON(ctx, r.node.URL+"/api/streams/"+stream+"?turnarounds=1", &in)
	return in, err
}

// waitEnded polls the stream until the node says it ended, which is after
// its last segment was published: the next phase then starts on a quiet
// node.
func (r *run) waitEnded(ctx context.Context, stream string) (streamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, endTimeout)
	defer cancel()
	for {
		in, err := r.streamInfo(ctx, stream)
		if err == nil && in.State == stateEnded {
			return in, nil
		}
		select {
		case <-ctx.Done():
			return in, errors.Join(fmt.Errorf("stream %s not ended (state %q)", stream, in.State), err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
