package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
)

// Orchestrator configures `castnet orchestrator`.
type Orchestrator struct {
	HTTPAddr      string
	Secret        string
	Transcode     string // "local"; "remote" (transcoders) is not built yet
	Capacity      int
	PricePerPixel int64
	FFmpeg        string
	LogLevel      slog.Level
}

// ParseOrchestrator reads `castnet orchestrator` flags.
func ParseOrchestrator(args []string, out io.Writer) (Orchestrator, error) {
	var o Orchestrator
	var level string
	fs := flag.NewFlagSet("castnet orchestrator", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.HTTPAddr, "http", "127.0.0.1:9935", "HTTP address for segments (POST /v1/transcode) and /api/info")
	fs.StringVar(&o.Secret, "secret", "", "shared secret transcoders must present (for -transcode remote)")
	fs.StringVar(&o.Transcode, "transcode", "local", "local: run ffmpeg here")
	fs.IntVar(&o.Capacity, "capacity", 2, "segments transcoded at once")
	fs.Int64Var(&o.PricePerPixel, "price", 0, "price per output pixel, in wei")
	fs.StringVar(&o.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Orchestrator{}, err
	}
	if fs.NArg() > 0 {
		return Orchestrator{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	if err := o.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("-log-level: %w", err))
	}
	if _, _, err := net.SplitHostPort(o.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("-http %q: %w", o.HTTPAddr, err))
	}
	switch o.Transcode {
	case "local":
	case "remote":
		errs = append(errs, errors.New("-transcode remote: transcoder nodes are not built yet; use -transcode local"))
	default:
		errs = append(errs, fmt.Errorf("-transcode %q: want local", o.Transcode))
	}
	if o.Capacity < 1 {
		errs = append(errs, fmt.Errorf("-capacity %d: want 1 or more", o.Capacity))
	}
	if o.PricePerPixel < 0 {
		errs = append(errs, fmt.Errorf("-price %d: want 0 or more", o.PricePerPixel))
	}
	return o, errors.Join(errs...)
}
