// Package orchestrator is castnet's orchestrator role (O): it sells
// transcoding. It advertises what it can do and at what price, and
// transcodes the segments broadcasters stream to it. Payment checks and
// remote transcoders come later; today it transcodes locally.
package orchestrator

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// ProtocolVersion names the broadcaster ↔ orchestrator protocol in
// docs/protocol.md.
const ProtocolVersion = "castnet/2"

// Config configures an orchestrator.
type Config struct {
	Transcoder transcode.Transcoder
	// Capacity is how many segments it transcodes at once.
	Capacity int
	// PricePerPixel is its price in wei per output pixel.
	PricePerPixel int64
	Logger        *slog.Logger
}

// Info is what GET /api/info reports, for broadcasters choosing a node.
type Info struct {
	Protocol      string   `json:"protocol"`
	Codecs        []string `json:"codecs"`
	Capacity      int      `json:"capacity"`
	Free          int      `json:"free"`
	PricePerPixel string   `json:"price_per_pixel"` // wei, decimal string (may exceed 2^53)
	MaxDimension  int      `json:"max_dimension"`
}

// Orchestrator serves the transcode endpoint and its info.
type Orchestrator struct {
	cfg Config
	log *slog.Logger
	seg *remote.Handler
}

// New builds an orchestrator.
func New(cfg Config) (*Orchestrator, error) {
	if cfg.Transcoder == nil {
		return nil, errors.New("orchestrator: Transcoder is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = 2
	}
	if cfg.PricePerPixel < 0 {
		return nil, errors.New("orchestrator: negative price")
	}
	return &Orchestrator{cfg: cfg, log: cfg.Logger,
		seg: remote.NewHandler(remote.HandlerConfig{Transcoder: cfg.Transcoder, Capacity: cfg.Capacity, Logger: cfg.Logger})}, nil
}

// Info reports the orchestrator's offer and free capacity.
func (o *Orchestrator) Info() Info {
	return Info{Protocol: ProtocolVersion, Codecs: []string{"h264"}, Capacity: o.cfg.Capacity,
		Free: o.seg.Free(), PricePerPixel: itoa(o.cfg.PricePerPixel), MaxDimension: transcode.MaxDimension}
}

// Handler serves POST /v1/transcode and GET /api/info.
func (o *Orchestrator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(remote.Path, o.seg)
	mux.Handle("GET /api/info", httpx.Handle(o.log, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		return json.NewEncoder(w).Encode(o.Info())
	}))
	return mux
}

func itoa(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
