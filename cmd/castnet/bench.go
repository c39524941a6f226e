package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/glass"
	"github.com/castnet/castnet/internal/bench/ingest"
	"github.com/castnet/castnet/internal/bench/latency"
	"github.com/castnet/castnet/internal/bench/soak"
	"github.com/castnet/castnet/internal/bench/transcodecost"
)

const benchUsage = `castnet bench — capacity, latency and cost, each beside a bare baseline in the same run

Usage:
  castnet bench [-short] [-out DIR] [PART ...]
  castnet bench receiver [-http ADDR] [-webrtc-udp ADDR]   (the ingest part's bare pion receiver)

Parts (all by default, in this order): %s

Each part starts the castnet nodes it measures as child processes of this
binary on loopback, prints its tables, and the run writes DIR/bench.json
with every figure; profiles (pprof) go to DIR as well. -short is a smoke
run that checks every part works in about a minute; its figures mean
nothing.

Flags:
`

// benchOptions are the flags that reshape parts.
type benchOptions struct {
	levels string        // ingest: publisher counts, comma-separated
	soak   time.Duration // soak: how long publishers come and go
}

// benchParts is the suite, in the order a full run takes.
func benchParts(o benchOptions) ([]bench.Part, error) {
	in := ingest.New()
	if o.levels != "" {
		cfg := ingest.DefaultConfig()
		cfg.Levels = nil
		for _, f := range strings.Split(o.levels, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 || (len(cfg.Levels) > 0 && n <= cfg.Levels[len(cfg.Levels)-1]) {
				return nil, fmt.Errorf("-levels %q: want rising publisher counts such as 100,200,400", o.levels)
			}
			cfg.Levels = append(cfg.Levels, n)
		}
		in = ingest.NewWith(cfg)
	}
	if o.soak < 0 {
		return nil, fmt.Errorf("-soak %s: want a positive duration", o.soak)
	}
	return []bench.Part{in, transcodecost.New(), latency.New(), glass.New(), soak.NewWith(soak.Config{Duration: o.soak})}, nil
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "receiver" {
		return ingest.RunReceiver(ctx, args[1:], stderr)
	}
	var opts benchOptions
	parts, _ := benchParts(opts)
	var names []string
	for _, p := range parts {
		names = append(names, p.Name())
	}
	fs := flag.NewFlagSet("castnet bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, benchUsage, strings.Join(names, ", "))
		fs.PrintDefaults()
	}
	short := fs.Bool("short", false, "smoke run: every part briefly, figures not meaningful")
	out := fs.String("out", "bench-results", "directory for bench.json and profiles")
	ffmpeg := fs.String("ffmpeg", "ffmpeg", "ffmpeg binary")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (the load generators and clients) to FILE")
	fs.DurationVar(&opts.soak, "soak", 0, "soak: how long publishers come and go (default 10m)")
	fs.StringVar(&opts.levels, "levels", "", "ingest: publisher counts to ramp through (default 100,300,500,600,700)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	parts, err := benchParts(opts)
	if err != nil {
		fmt.Fprintln(stderr, "castnet bench:", err)
		return errUsage
	}
	chosen, err := pickParts(parts, fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "castnet bench:", err)
		fs.Usage()
		return errUsage
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	env := bench.Env{Exe: exe, Out: *out, Short: *short, FFmpeg: *ffmpeg, Progress: stderr,
		Log: newLogger(stderr, 0)}
	results, runErr := runParts(ctx, env, chosen, stdout, stderr)
	js, err := bench.JSON(results)
	if err != nil {
		return err
	}
	path := filepath.Join(*out, "bench.json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s\n", path)
	return runErr
}

// pickParts keeps the named parts in suite order; none named is all.
func pickParts(parts []bench.Part, names []string) ([]bench.Part, error) {
	if len(names) == 0 {
		return parts, nil
	}
	var out []bench.Part
	for _, p := range parts {
		if slices.Contains(names, p.Name()) {
			out = append(out, p)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(parts, func(p bench.Part) bool { return p.Name() == n }) {
			return nil, fmt.Errorf("no part %q", n)
		}
	}
	return out, nil
}

// runParts runs each part, prints its result as soon as it has one, and
// goes on after a part fails so that one broken part costs only itself.
func runParts(ctx context.Context, env bench.Env, parts []bench.Part, stdout, stderr io.Writer) ([]*bench.Result, error) {
	var results []*bench.Result
	var errs []error
	for _, p := range parts {
		fmt.Fprintf(stderr, "castnet bench: %s…\n", p.Name())
		start := time.Now()
		r, err := p.Run(ctx, env)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
			fmt.Fprintf(stderr, "castnet bench: %s failed: %v\n", p.Name(), err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		r.Part, r.Short, r.Started, r.Seconds = p.Name(), env.Short, start, time.Since(start).Seconds()
		r.Print(stdout)
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}
