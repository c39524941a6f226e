package main

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/castnet/castnet/internal/app"
	"github.com/castnet/castnet/internal/config"
)

func runOrchestrator(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := config.ParseOrchestrator(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	node, err := app.StartOrchestrator(cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	return node.Close()
}
