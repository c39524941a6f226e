package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/castnet/castnet/internal/publish"
)

func runPublish(ctx context.Context, args []string, stderr io.Writer) error {
	var cfg publish.Config
	fs := flag.NewFlagSet("castnet publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: castnet publish [flags] (-test-pattern | FILE) WHIP_URL")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Token, "token", "", "bearer token for the WHIP endpoint")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (default: end of file, or until Ctrl-C for -test-pattern)")
	fs.BoolVar(&cfg.TestPattern, "test-pattern", false, "publish a generated test pattern and tone instead of a file")
	fs.IntVar(&cfg.Width, "width", 1280, "test pattern width")
	fs.IntVar(&cfg.Height, "height", 720, "test pattern height")
	fs.IntVar(&cfg.FPS, "fps", 30, "test pattern frame rate")
	fs.IntVar(&cfg.Bitrate, "bitrate", 2_500_000, "test pattern video bitrate, bits per second")
	fs.StringVar(&cfg.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary used to prepare the media")
	verbose := fs.Bool("v", false, "log details")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	rest := fs.Args()
	switch {
	case cfg.TestPattern && len(rest) == 1:
		cfg.URL = rest[0]
	case !cfg.TestPattern && len(rest) == 2:
		cfg.File, cfg.URL = rest[0], rest[1]
	default:
		fs.Usage()
		return errUsage
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("WHIP URL %q: want http:// or https://", cfg.URL)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = newLogger(stderr, level)
	cfg.Progress = stderr
	start := time.Now()
	err := publish.Run(ctx, cfg)
	if err == nil || errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "published for %s\n", time.Since(start).Round(time.Second))
		return nil
	}
	return err
}
