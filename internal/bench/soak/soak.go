// Package soak is the "memory and soak" part of castnet's benchmark suite:
// what one stream costs a node in memory, and whether a node that has
// seen hundreds of publishers come and go for ten minutes, some leaving
// politely and some vanishing, is back to its starting goroutines, heap
// and file descriptors once they are gone.
package soak

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
	"github.com/castnet/castnet/internal/publish"
)

// Config shapes the part. Zero fields take the defaults below; a Short
// run replaces every figure but Seed with the smoke run's, so that
// `castnet bench -short` stays within its budget whatever was asked.
type Config struct {
	// Duration is how long publishers come and go (default 10 min).
	Duration time.Duration `json:"duration_ns"`
	// Publishers is how many publish at once during the soak (default 30).
	Publishers int `json:"publishers"`
	// MinLife and MaxLife bound each soak publisher's life (default 5 s
	// and 60 s).
	MinLife time.Duration `json:"min_life_ns"`
	MaxLife time.Duration `json:"max_life_ns"`
	// Dropped and Killed are the shares of publishers that end without a
	// DELETE, and as a killed process (default 0.3 and 0.2).
	Dropped float64 `json:"dropped"`
	Killed  float64 `json:"killed"`
	// Seed makes the schedule reproducible (default 1).
	Seed uint64 `json:"seed"`
	// Counts are the stream counts memory per stream is measured at
	// (default 20 and 50).
	Counts []int `json:"counts"`
	// Steady is how long streams run before memory is read (default 5 s).
	Steady time.Duration `json:"steady_ns"`
	// Every is the soak's sampling period (default 10 s).
	Every time.Duration `json:"every_ns"`
	// Drain bounds the wait for the node to notice that every publisher
	// has gone (default 60 s; a killed one takes ICE's 15 s).
	Drain time.Duration `json:"drain_ns"`
	// Settle is the pause before the end is read (default 10 s).
	Settle time.Duration `json:"settle_ns"`
}

// Defaults of the full run.
const (
	DefaultDuration   = 10 * time.Minute
	DefaultPublishers = 30
)

// resolve fills the defaults, or the smoke run's figures for short.
func (c Config) resolve(short bool) Config {
	def := Config{Duration: DefaultDuration, Publishers: DefaultPublishers, MinLife: 5 * time.Second,
		MaxLife: 60 * time.Second, Dropped: 0.3, Killed: 0.2, Seed: 1, Counts: []int{20, 50},
		Steady: 5 * time.Second, Every: 10 * time.Second, Drain: 60 * time.Second, Settle: 10 * time.Second}
	if short {
		def = Config{Duration: 12 * time.Second, Publishers: 3, MinLife: 2 * time.Second,
			MaxLife: 5 * time.Second, Dropped: 0.3, Killed: 0.2, Seed: c.Seed, Counts: []int{3},
			Steady: 3 * time.Second, Every: 2 * time.Second, Drain: 25 * time.Second, Settle: 2 * time.Second}
		if def.Seed == 0 {
			def.Seed = 1
		}
		return def
	}
	pick := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	c.Duration, c.MinLife, c.MaxLife = pick(c.Duration, def.Duration), pick(c.MinLife, def.MinLife), pick(c.MaxLife, def.MaxLife)
	c.Steady, c.Every, c.Drain, c.Settle = pick(c.Steady, def.Steady), pick(c.Every, def.Every), pick(c.Drain, def.Drain), pick(c.Settle, def.Settle)
	if c.Publishers <= 0 {
		c.Publishers = def.Publishers
	}
	if c.Dropped == 0 && c.Killed == 0 {
		c.Dropped, c.Killed = def.Dropped, def.Killed
	}
	if c.Seed == 0 {
		c.Seed = def.Seed
	}
	if len(c.Counts) == 0 {
		c.Counts = def.Counts
	}
	c.MaxLife = max(c.MaxLife, c.MinLife)
	return c
}

// publisherConfig is every publisher's media: small, so that the
// publishers, which share the machine with the node, stay cheap.
func publisherConfig(ffmpeg string) publish.Config {
	return publish.Config{TestPattern: true, Width: 640, Height: 360, FPS: 30, Bitrate: 600_000,
		FFmpeg: ffmpeg, ConnectTimeout: 15 * time.Second}
}

// New returns the part with the default Config.
func New() bench.Part { return NewWith(Config{}) }

// NewWith returns the part with cfg.
func NewWith(cfg Config) bench.Part { return part{cfg: cfg} }

type part struct{ cfg Config }

// Name is "soak".
func (part) Name() string { return "soak" }

// Data is the part's raw figures.
type Data struct {
	Config Config `json:"config"`
	// Idle is the fresh node before any stream; PerStream its memory with
	// streams held.
	Idle      Level       `json:"idle"`
	PerStream []PerStream `json:"per_stream"`
	// Start and End are the soak's levels (after the per-stream phase
	// warmed the node up, and after the soak's publishers have gone).
	Start   Level    `json:"start"`
	End     Level    `json:"end"`
	Samples []Sample `json:"samples"`
	// MemoryPublishers and SoakPublishers count each phase's publishers.
	MemoryPublishers Tally `json:"memory_publishers"`
	SoakPublishers   Tally `json:"soak_publishers"`
	// Names is the number of stream names the soak used; DrainSeconds how
	// long the node took to list no live stream once all had stopped.
	Names        int     `json:"stream_names"`
	DrainSeconds float64 `json:"drain_seconds"`
}

// run is one Run's state.
type run struct {
	cfg  Config
	env  bench.Env
	res  *bench.Result
	data *Data
	// startProf is the heap profile taken at the soak's start ("" if none).
	startProf string
}

func (r *run) note(format string, args ...any) {
	r.res.Notes = append(r.res.Notes, fmt.Sprintf(format, args...))
}

// Run measures memory per stream, then soaks one node.
func (p part) Run(ctx context.Context, env bench.Env) (*bench.Result, error) {
	cfg := p.cfg.resolve(env.Short)
	if env.FFmpeg == "" {
		env.FFmpeg = "ffmpeg"
	}
	r := &run{cfg: cfg, env: env, data: &Data{Config: cfg},
		res: &bench.Result{Part: "soak", Started: time.Now(), Short: env.Short, Method: method(cfg)}}
	r.res.Data = r.data
	if err := os.MkdirAll(env.Out, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "castnet-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	maxStreams := max(100, 2*slices.Max(cfg.Counts), 3*cfg.Publishers)
	n, err := node.Start(ctx, env.Exe, "dev", "-source-only", "-max-streams", strconv.Itoa(maxStreams), "-data", dir)
	if err != nil {
		return nil, err
	}
	defer n.Stop()
	pub := publisherConfig(env.FFmpeg)
	m, err := publish.Prepare(ctx, pub)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	fc := fleetConfig{exe: env.Exe, ffmpeg: env.FFmpeg, base: n.URL, media: m, pub: pub}
	if err := r.perStream(ctx, n, fc); err != nil {
		return nil, fmt.Errorf("soak: memory per stream: %w\nnode log:\n%s", err, n.Logs())
	}
	if err := r.soak(ctx, n, fc); err != nil {
		return nil, fmt.Errorf("soak: %w\nnode log:\n%s", err, n.Logs())
	}
	r.report()
	r.res.Seconds = time.Since(r.res.Started).Seconds()
	return r.res, nil
}

func method(c Config) string {
	return fmt.Sprintf("One `castnet dev -source-only` node (no ffmpeg in the node, so its memory is castnet's own), "+
		"publishers 640x360@30 600 kb/s + Opus from one prepared test pattern (publish.Prepare). "+
		"Memory per stream: the fresh node's level (after a forced GC) is read, then %v streams are held and read again "+
		"after %s steady; per stream = (level − idle) ÷ streams, and a heap profile diffed against the idle one says what "+
		"the streams hold. Soak: for %s, %d publishers at once each live %s–%s (seed %d) and end cleanly (WHIP DELETE), "+
		"dropped (PeerConnection closed, DELETE withheld, %.0f%%) or killed (`castnet publish` child SIGKILLed: no DELETE, no DTLS close, %.0f%%); "+
		"stream names are reused once free, as stream keys are. Then all stop; once the node lists no live stream "+
		"(at most %s) and %s have passed, the end is read against the soak's start (taken after the per-stream phase, "+
		"so pools and buffers have already grown). Samples every %s read goroutines, heap after GC, RSS, open FDs and live streams.",
		c.Counts, c.Steady, c.Duration, c.Publishers, c.MinLife, c.MaxLife, c.Seed, 100*c.Dropped, 100*c.Killed,
		c.Drain, c.Settle, c.Every)
}
