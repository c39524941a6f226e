package app

import (
	"fmt"
	"log/slog"

	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/orchestrator"
	"github.com/castnet/castnet/internal/transcode"
)

// Orchestrator is a running `castnet orchestrator`.
type Orchestrator struct {
	HTTP    *httpx.Server
	closers closers
}

// StartOrchestrator builds and starts an orchestrator node.
func StartOrchestrator(cfg config.Orchestrator, log *slog.Logger) (_ *Orchestrator, err error) {
	o := &Orchestrator{}
	defer func() {
		if err != nil {
			_ = o.Close()
		}
	}()
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{Path: cfg.FFmpeg, Logger: log.With("component", "ffmpeg")})
	if err != nil {
		return nil, err
	}
	o.closers.add(ff.Close)
	tr, err := orchestrator.WithFault(ff, cfg.Fault)
	if err != nil {
		return nil, err
	}
	if cfg.Fault != "" {
		log.Warn("this orchestrator misbehaves on purpose, for testing", "fault", cfg.Fault)
	}
	orch, err := orchestrator.New(orchestrator.Config{Transcoder: tr, Capacity: cfg.Capacity,
		PricePerPixel: cfg.PricePerPixel, Logger: log})
	if err != nil {
		return nil, err
	}
	if o.HTTP, err = httpx.Listen(cfg.HTTPAddr, orch.Handler(), log); err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	o.closers.add(o.HTTP.Close)
	log.Info("castnet orchestrator is up", "url", "http://"+o.HTTP.Addr().String(),
		"protocol", orchestrator.ProtocolVersion, "capacity", cfg.Capacity, "price_per_pixel", cfg.PricePerPixel)
	return o, nil
}

// Close stops serving, then ends the transcodes in flight; idempotent.
func (o *Orchestrator) Close() error {
	return o.closers.closeAll()
}
