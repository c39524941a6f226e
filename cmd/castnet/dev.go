package main

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/castnet/castnet/internal/app"
	"github.com/castnet/castnet/internal/config"
)

func runDev(ctx context.Context, args []string, stderr io.Writer) error {
	return runNode(ctx, config.ParseDev, args, stderr)
}

func runBroadcaster(ctx context.Context, args []string, stderr io.Writer) error {
	return runNode(ctx, config.ParseBroadcaster, args, stderr)
}

func runNode(ctx context.Context, parse func([]string, io.Writer) (config.Dev, error), args []string, stderr io.Writer) error {
	cfg, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	node, err := app.StartDev(cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down: ending live streams and finishing their playlists")
	return node.Close()
}
