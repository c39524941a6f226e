package app

import (
	"fmt"
	"log/slog"
	"math/big"

	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/orchestrator"
	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/sign"
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
	if err := startDebug(&o.closers, cfg.DebugAddr, log); err != nil {
		return nil, err
	}
	orch, err := o.build(cfg, log)
	if err != nil {
		return nil, err
	}
	if o.HTTP, err = httpx.ListenLimited(cfg.HTTPAddr, orch.Handler(), log, httpx.Limits{MaxConns: cfg.Limits.MaxConns}); err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	if cfg.Transcode == "remote" {
		// Transcoder sessions never end by themselves, so the pool closes
		// first (its segments in flight fail over at their broadcasters)
		// and the server after, without waiting on them.
		o.closers.last(o.HTTP.Close)
	} else {
		// The server closes first and lets the segments in flight finish.
		o.closers.add(o.HTTP.Close)
	}
	in := orch.Info()
	log.Info("castnet orchestrator is up", "url", "http://"+o.HTTP.Addr().String(),
		"protocol", orchestrator.ProtocolVersion, "transcode", in.Transcode, "capacity", in.Capacity,
		"price_per_pixel", cfg.PricePerPixel)
	return o, nil
}

func (o *Orchestrator) build(cfg config.Orchestrator, log *slog.Logger) (*orchestrator.Orchestrator, error) {
	key, err := loadKey(cfg.Identity, "orchestrator", log)
	if err != nil {
		return nil, err
	}
	price := big.NewInt(cfg.PricePerPixel)
	var led *ledger.Ledger
	if price.Sign() > 0 {
		// Tickets are checked against the senders' funds and redeemed
		// here: the embedded ledger stands in for the chain.
		if led, err = openLedger(cfg.Ledger, log); err != nil {
			return nil, err
		}
		o.closers.add(led.Close)
	}
	seller, err := newSellerTrust(sellerConfig{key: key, domain: sign.DefaultDomain().WithChainID(chainID(cfg.ChainID)),
		price: price, faceValue: cfg.FaceValue, ledger: led, winners: cfg.Winners}, log)
	if err != nil {
		return nil, err
	}
	o.closers.add(seller.close)
	if cfg.Transcode == "remote" {
		pool, err := dispatch.New(dispatch.Config{Secret: cfg.Secret, Logger: log.With("component", "dispatch")})
		if err != nil {
			return nil, err
		}
		o.closers.add(pool.Close)
		return orchestrator.New(seller.config(limited(orchestrator.Config{Workers: workers{pool},
			PricePerPixel: cfg.PricePerPixel, Logger: log}, cfg.Limits), key.Address))
	}
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
	return orchestrator.New(seller.config(limited(orchestrator.Config{Transcoder: tr, Capacity: cfg.Capacity,
		PricePerPixel: cfg.PricePerPixel, Logger: log}, cfg.Limits), key.Address))
}

// limited sets the orchestrator's deadlines for segment uploads.
func limited(c orchestrator.Config, l config.Limits) orchestrator.Config {
	c.InputIdle, c.AttemptTimeout = l.InputIdle, l.AttemptTimeout
	return c
}

// Close stops the node; idempotent.
func (o *Orchestrator) Close() error {
	return o.closers.closeAll()
}

// workers adapts the transcoder pool to the orchestrator.
type workers struct{ *dispatch.Pool }

func (w workers) Snapshot() any { return w.Pool.Snapshot() }
