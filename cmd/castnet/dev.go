package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"

	"github.com/castnet/castnet/internal/app"
	"github.com/castnet/castnet/internal/config"
)

// role is what runRole needs of a subcommand: how to read its flags, its
// log level, and how to start it.
type role[C any] struct {
	parse func([]string, io.Writer) (C, error)
	level func(C) slog.Level
	start func(C, *slog.Logger) (io.Closer, error)
}

var devRole = role[config.Dev]{
	level: func(c config.Dev) slog.Level { return c.LogLevel },
	start: func(c config.Dev, log *slog.Logger) (io.Closer, error) { return app.StartDev(c, log) },
}

func runDev(ctx context.Context, args []string, stderr io.Writer) error {
	r := devRole
	r.parse = config.ParseDev
	return runRole(ctx, r, args, stderr)
}

func runBroadcaster(ctx context.Context, args []string, stderr io.Writer) error {
	r := devRole
	r.parse = config.ParseBroadcaster
	return runRole(ctx, r, args, stderr)
}

func runOrchestrator(ctx context.Context, args []string, stderr io.Writer) error {
	return runRole(ctx, role[config.Orchestrator]{
		parse: config.ParseOrchestrator,
		level: func(c config.Orchestrator) slog.Level { return c.LogLevel },
		start: func(c config.Orchestrator, log *slog.Logger) (io.Closer, error) {
			return app.StartOrchestrator(c, log)
		},
	}, args, stderr)
}

func runTranscoder(ctx context.Context, args []string, stderr io.Writer) error {
	return runRole(ctx, role[config.Transcoder]{
		parse: config.ParseTranscoder,
		level: func(c config.Transcoder) slog.Level { return c.LogLevel },
		start: func(c config.Transcoder, log *slog.Logger) (io.Closer, error) {
			return app.StartTranscoder(c, log)
		},
	}, args, stderr)
}

// failer is a node that can end by itself, for good: a transcoder whose
// secret the orchestrator refuses.
type failer interface{ Failed() <-chan error }

// runRole parses a role's flags, starts it, and runs it until ctx ends
// (Ctrl-C or SIGTERM), then closes it.
func runRole[C any](ctx context.Context, r role[C], args []string, stderr io.Writer) error {
	cfg, err := r.parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(stderr, r.level(cfg))
	node, err := r.start(cfg, log)
	if err != nil {
		return err
	}
	var failed <-chan error
	if f, ok := node.(failer); ok {
		failed = f.Failed()
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down: ending sessions and finishing the work in flight")
		return node.Close()
	case err := <-failed:
		return errors.Join(err, node.Close())
	}
}
