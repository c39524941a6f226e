// Package ingest is the ingest-capacity part of castnet's benchmark suite:
// N WHIP publishers, pre-encoded and paced in real time, into a castnet
// node that does not transcode (-source-only), ramping N until CPU or
// packet loss breaks, beside a bare pion receiver fed by the same
// publishers in the same run.
package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
	"github.com/castnet/castnet/internal/bench/procstat"
	"github.com/castnet/castnet/internal/publish"
)

// Config shapes the ramp.
type Config struct {
	Levels  []int         // publisher counts to hold, in order
	Settle  time.Duration // after reaching a level, before measuring
	Window  time.Duration // measurement window at each level
	Connect int           // publishers connecting at once
	// Width, Height, FPS and Bitrate shape the pre-encoded test pattern.
	Width, Height, FPS, Bitrate int
	Segment                     time.Duration // the node's -segment
	// A level breaks when loss exceeds MaxLoss, fewer than MinOnTime of
	// the expected segments are published, the machine is busier than
	// MaxMachine, or publishers fail to connect.
	MaxLoss, MinOnTime, MaxMachine float64
	// Goal is the publisher count the node must hold, and GoalRatio the
	// most CPU it may use there against the bare receiver.
	Goal      int
	GoalRatio float64
}

// DefaultConfig is the full run: 100 to 700 publishers, 8 s windows (the
// suite has 15 minutes, ten of them the soak's).
func DefaultConfig() Config {
	return Config{Levels: []int{100, 300, 500, 600, 700}, Settle: 3 * time.Second,
		Window: 8 * time.Second, Connect: 8, Width: 640, Height: 360, FPS: 30, Bitrate: 600_000,
		Segment: 2 * time.Second, MaxLoss: 0.01, MinOnTime: 0.95, MaxMachine: 0.97, Goal: 500, GoalRatio: 1.3}
}

// ShortConfig is the smoke run: two tiny levels.
func ShortConfig() Config {
	c := DefaultConfig()
	c.Levels, c.Settle, c.Window = []int{2, 4}, 2*time.Second, 4*time.Second
	return c
}

// Part is the ingest benchmark.
type Part struct{ cfg *Config }

// New is the part with DefaultConfig (ShortConfig in a short run).
func New() bench.Part { return Part{} }

// NewWith is the part with cfg, whatever the run's length.
func NewWith(cfg Config) bench.Part { return Part{cfg: &cfg} }

// Name implements bench.Part.
func (Part) Name() string { return "ingest" }

// Level is what was measured with N publishers on one target.
type Level struct {
	Target     string  `json:"target"`
	N          int     `json:"publishers"`
	Connected  int     `json:"connected"`
	ConnectErr int     `json:"connect_errors"`
	CPU        float64 `json:"cpu_cores"`    // the receiver's CPU, in cores
	Machine    float64 `json:"machine_busy"` // the whole machine, 0..1
	LoadGen    float64 `json:"loadgen_cores"`
	Sent       int64   `json:"packets_sent"`
	Received   uint64  `json:"packets_received"`
	Loss       float64 `json:"loss"`          // 1 − received ÷ sent over the window
	GapLoss    uint64  `json:"sequence_gaps"` // gaps the receiver saw
	// Dropped is UDP datagrams the kernel dropped for a full receive
	// buffer, machine-wide, in the window.
	Dropped    uint64  `json:"kernel_udp_drops"`
	Segments   uint64  `json:"segments"`                   // published in the window (castnet)
	OnTime     float64 `json:"segments_on_time,omitempty"` // castnet only
	RSS        int64   `json:"rss_bytes"`
	RSSPerPub  float64 `json:"rss_per_publisher_bytes"`
	Goroutines int     `json:"goroutines"`
	Broke      string  `json:"broke,omitempty"`
}

// Data is the part's raw figures.
type Data struct {
	Config Config  `json:"config"`
	Levels []Level `json:"levels"`
}

// Run implements bench.Part.
func (p Part) Run(ctx context.Context, env bench.Env) (*bench.Result, error) {
	cfg := DefaultConfig()
	if env.Short {
		cfg = ShortConfig()
	}
	if p.cfg != nil {
		cfg = *p.cfg
	}
	env.Say("encoding the %dx%d@%d %d kb/s test pattern once", cfg.Width, cfg.Height, cfg.FPS, cfg.Bitrate/1000)
	media, err := publish.Prepare(ctx, publish.Config{TestPattern: true, Width: cfg.Width, Height: cfg.Height,
		FPS: cfg.FPS, Bitrate: cfg.Bitrate, FFmpeg: env.FFmpeg})
	if err != nil {
		return nil, err
	}
	defer media.Close()
	data := &Data{Config: cfg}
	r := &bench.Result{Part: p.Name(), Method: method(cfg), Data: data}
	top, err := p.ramp(ctx, env, cfg, media, "castnet", data, 0, r)
	if err != nil {
		return nil, err
	}
	if _, err := p.ramp(ctx, env, cfg, media, "bare", data, top, r); err != nil {
		return nil, err
	}
	summarize(r, cfg, data)
	explain(ctx, env, r, data)
	return r, nil
}

// ramp steps one target through the levels, up to limit when limit > 0,
// and returns the highest level it reached (held or broke at).
func (p Part) ramp(ctx context.Context, env bench.Env, cfg Config, media *publish.Media, name string,
	data *Data, limit int, r *bench.Result) (int, error) {
	t, err := startTarget(ctx, env, cfg, name)
	if err != nil {
		return 0, err
	}
	defer t.node.Stop()
	swarm, err := publish.NewSwarm(media, publish.SwarmConfig{ConnectTimeout: 20 * time.Second})
	if err != nil {
		return 0, err
	}
	defer swarm.Close()
	idle, err := t.node.Stat()
	if err != nil {
		return 0, err
	}
	env.Say("%s: pid %d up at %s, idle RSS %.0f MiB", name, t.node.PID(), t.node.URL, mib(idle.RSS))
	reached, failures := 0, 0
	for _, n := range cfg.Levels {
		if limit > 0 && n > limit {
			break
		}
		failures += grow(ctx, swarm, t.node.URL, n, cfg.Connect)
		if err := bench.Sleep(ctx, cfg.Settle); err != nil {
			return reached, err
		}
		lv, err := measure(ctx, t, swarm, cfg, n, idle)
		if err != nil {
			return reached, err
		}
		lv.ConnectErr = failures
		lv.Broke = broke(cfg, lv)
		data.Levels = append(data.Levels, lv)
		reached = n
		onTime := ""
		if name == "castnet" {
			onTime = fmt.Sprintf(", segments on time %.1f%%", 100*lv.OnTime)
		}
		env.Say("%s %4d publishers: %.2f cores, machine %2.0f%%, loss %.3f%% (kernel drops %d)%s, %.2f MiB/publisher %s",
			name, n, lv.CPU, 100*lv.Machine, 100*lv.Loss, lv.Dropped, onTime, mib(int64(lv.RSSPerPub)), lv.Broke)
		if lv.Broke != "" {
			break
		}
	}
	if name == "castnet" && !env.Short {
		profile(ctx, env, t.node, r)
	}
	return reached, nil
}

func startTarget(ctx context.Context, env bench.Env, cfg Config, name string) (*target, error) {
	if name == "bare" {
		n, err := node.Start(ctx, env.Exe, "bench receiver")
		if err != nil {
			return nil, err
		}
		return &target{name: name, node: n, read: bareCounts(n)}, nil
	}
	dir, err := os.MkdirTemp(env.Out, "ingest-data-")
	if err != nil {
		return nil, err
	}
	n, err := node.Start(ctx, env.Exe, "dev", "-source-only", "-max-streams", "0", "-data", dir,
		"-segment", cfg.Segment.String())
	if err != nil {
		return nil, err
	}
	return &target{name: name, node: n, read: castnetCounts(n)}, nil
}

// grow adds members until the swarm has n, cfg.Connect at a time, and
// returns how many failed to connect.
func grow(ctx context.Context, s *publish.Swarm, base string, n, parallel int) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := s.Members(); i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := s.Add(ctx, fmt.Sprintf("%s/whip/load-%d", base, i)); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// profile writes a CPU and a heap profile of the castnet node at the top
// of its ramp.
func profile(ctx context.Context, env bench.Env, n *node.Node, r *bench.Result) {
	for _, kind := range []string{"cpu", "heap"} {
		name := "ingest-castnet-" + kind + ".pprof"
		if err := n.Profile(ctx, kind, 5*time.Second, filepath.Join(env.Out, name)); err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("%s profile failed: %v", kind, err))
			continue
		}
		r.Profiles = append(r.Profiles, name)
	}
}

// procSelf reads this process: the load generator's CPU.
func procSelf() (procstat.Proc, error) { return procstat.Read(os.Getpid()) }
