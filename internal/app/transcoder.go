package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
	"github.com/castnet/castnet/internal/transcoder"
	"github.com/castnet/castnet/internal/trust"
)

// Transcoder is a running `castnet transcoder`.
type Transcoder struct {
	Node    *transcoder.Node
	HTTP    *httpx.Server
	failed  chan error
	closers closers
}

// StartTranscoder builds a transcoder node, serves its status and starts
// its session with the orchestrator.
func StartTranscoder(cfg config.Transcoder, log *slog.Logger) (_ *Transcoder, err error) {
	t := &Transcoder{failed: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = t.Close()
		}
	}()
	work, err := t.encoders(cfg, log)
	if err != nil {
		return nil, err
	}
	key, err := loadKey(cfg.Identity, "transcoder", log)
	if err != nil {
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name = hostName()
	}
	if t.Node, err = transcoder.New(transcoder.Config{OrchestratorURL: cfg.Orchestrator, Secret: cfg.Secret,
		Capacity: cfg.Capacity, Name: name, Transcoder: work, Logger: log,
		Vouch: trust.Vouch(key, sign.DefaultDomain().WithChainID(chainID(cfg.ChainID))),
	}); err != nil {
		return nil, err
	}
	if t.HTTP, err = httpx.Listen(cfg.HTTPAddr, t.Node.Handler(), log); err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	t.closers.add(t.HTTP.Close)
	t.closers.add(t.Node.Close)
	go func() {
		if err := t.Node.Run(context.Background()); err != nil {
			t.failed <- err
		}
	}()
	log.Info("castnet transcoder is up", "url", "http://"+t.HTTP.Addr().String(), "orchestrator", cfg.Orchestrator,
		"capacity", cfg.Capacity, "name", name, "nvidia", cfg.NvidiaGPUs)
	return t, nil
}

// encoders is libx264, or one NVENC encoder per GPU taken in turn.
func (t *Transcoder) encoders(cfg config.Transcoder, log *slog.Logger) (transcode.Transcoder, error) {
	if len(cfg.NvidiaGPUs) == 0 {
		ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{Path: cfg.FFmpeg, Logger: log.With("component", "ffmpeg")})
		if err != nil {
			return nil, err
		}
		t.closers.add(ff.Close)
		return ff, nil
	}
	var gpus roundRobin
	for _, g := range cfg.NvidiaGPUs {
		ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{Path: cfg.FFmpeg, Encoder: transcode.EncoderNVENC, GPU: g,
			Logger: log.With("component", "ffmpeg", "gpu", g)})
		if err != nil {
			return nil, err
		}
		t.closers.add(ff.Close)
		gpus.all = append(gpus.all, ff)
	}
	return &gpus, nil
}

// Failed delivers the error that ended the node's session for good, such
// as a refused secret.
func (t *Transcoder) Failed() <-chan error { return t.failed }

// Close ends the session and the jobs in flight; idempotent.
func (t *Transcoder) Close() error { return t.closers.closeAll() }

// roundRobin spreads jobs over several transcoders (one per GPU).
type roundRobin struct {
	all  []transcode.Transcoder
	next atomic.Uint64
}

func (r *roundRobin) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	i := r.next.Add(1) - 1
	return r.all[i%uint64(len(r.all))].Transcode(ctx, job)
}

func hostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || remote.CheckTranscoderName(h) != nil {
		return "transcoder"
	}
	return h
}
