// Package orchestrator is castnet's orchestrator role (O): it sells
// transcoding. It advertises what it can do and at what price, and
// transcodes the segments broadcasters stream to it, either with its own
// ffmpeg or through the transcoder nodes registered with it (see the
// dispatch package). Its Gate (internal/trust) takes payment and signs
// receipts.
package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// ProtocolVersion names the broadcaster ↔ orchestrator protocol in
// docs/protocol.md.
const ProtocolVersion = "castnet/2"

// FeatureStreamedRenditions in Info.Features: the node answers a segment
// request carrying remote.HeaderStreamed with each rendition streamed as
// it is made (docs/protocol.md, castnet/3). The version stays castnet/2,
// which every broadcaster takes; the feature is what is new.
const FeatureStreamedRenditions = "streamed-renditions"

// Workers is a transcoder whose capacity comes and goes, such as a pool of
// registered transcoder nodes. It serves its own endpoints and state.
type Workers interface {
	transcode.Transcoder
	Capacity() int
	Free() int
	// Handler serves the workers' endpoints (transcoder sessions, jobs).
	Handler() http.Handler
	// Snapshot is the workers' state for GET /api/transcoders.
	Snapshot() any
}

// Config configures an orchestrator: either Transcoder with a fixed
// Capacity (local ffmpeg), or Workers.
type Config struct {
	Transcoder transcode.Transcoder
	// Capacity is how many segments Transcoder takes at once.
	Capacity int
	Workers  Workers
	// PricePerPixel is its price in wei per output pixel.
	PricePerPixel int64
	// Address is the key it signs receipts with and is paid to.
	Address common.Address
	// Gate admits segments (payment, signatures) and signs receipts.
	Gate remote.Gate
	// Params, when set, are the ticket parameters a sender must pay with;
	// /api/info?sender=ADDRESS reports them.
	Params func(ctx context.Context, sender common.Address) (pm.TicketParams, pm.ExpirationParams, error)
	// Credit, when set, is a sender's credit here in wei (its payments'
	// value not yet spent on work), shown with its ticket parameters so a
	// broadcaster whose count drifted (a payment lost, a refusal after
	// payment) can resync.
	Credit func(sender common.Address) *big.Int
	// Payments, when set, is served at GET /api/payments.
	Payments func() any
	// InputIdle is the longest wait for a segment's next byte
	// (remote.DefaultInputIdle); AttemptTimeout bounds one segment, upload
	// and answer (remote.AttemptTimeout of Segment when that is set, else
	// remote.DefaultAttemptTimeout). A sender that passes either is cut
	// off with 408 and its slot freed.
	InputIdle      time.Duration
	AttemptTimeout time.Duration
	// Segment is the broadcasters' nominal segment duration, when known
	// (castnet dev knows its own).
	Segment time.Duration
	Logger  *slog.Logger
}

// Info is what GET /api/info reports, for broadcasters choosing a node.
type Info struct {
	Protocol      string   `json:"protocol"`
	Codecs        []string `json:"codecs"`
	Capacity      int      `json:"capacity"`
	Free          int      `json:"free"`
	PricePerPixel string   `json:"price_per_pixel"` // wei, decimal string (may exceed 2^53)
	MaxDimension  int      `json:"max_dimension"`
	// Features lists what the node does beyond castnet/2's core:
	// FeatureStreamedRenditions, a streamed answer (castnet/3) to a
	// request that asks for one.
	Features []string `json:"features,omitempty"`
	// Transcode is "local" (ffmpeg on the orchestrator) or "remote"
	// (registered transcoder nodes).
	Transcode string `json:"transcode"`
	// Address is the orchestrator's Ethereum address: receipts are signed
	// and tickets paid to it.
	Address string `json:"address,omitempty"`
	// TicketParams and ExpirationParams are what a sender (named by
	// ?sender=) pays this orchestrator with, when it charges.
	TicketParams     *pm.TicketParams     `json:"ticket_params,omitempty"`
	ExpirationParams *pm.ExpirationParams `json:"expiration_params,omitempty"`
	// Credit is that sender's credit here, in wei (decimal).
	Credit string `json:"credit,omitempty"`
}

// Orchestrator serves the transcode endpoint and its info.
type Orchestrator struct {
	cfg Config
	log *slog.Logger
	seg *remote.Handler
}

// remoteSlots bounds concurrent requests in remote mode, where the workers
// refuse what they cannot take (503) themselves.
const remoteSlots = 1024

// New builds an orchestrator.
func New(cfg Config) (*Orchestrator, error) {
	if (cfg.Transcoder == nil) == (cfg.Workers == nil) {
		return nil, errors.New("orchestrator: give either a Transcoder or Workers")
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
	if cfg.AttemptTimeout <= 0 && cfg.Segment > 0 {
		cfg.AttemptTimeout = remote.AttemptTimeout(cfg.Segment)
	}
	hc := remote.HandlerConfig{Transcoder: cfg.Transcoder, Capacity: cfg.Capacity, Gate: cfg.Gate, Logger: cfg.Logger,
		InputIdle: cfg.InputIdle, AttemptTimeout: cfg.AttemptTimeout}
	if cfg.Workers != nil {
		hc.Transcoder, hc.Capacity = cfg.Workers, remoteSlots
	}
	return &Orchestrator{cfg: cfg, log: cfg.Logger, seg: remote.NewHandler(hc)}, nil
}

// Info reports the orchestrator's offer and free capacity.
func (o *Orchestrator) Info() Info {
	in := Info{Protocol: ProtocolVersion, Codecs: []string{"h264"}, Capacity: o.cfg.Capacity,
		Free: o.seg.Free(), PricePerPixel: itoa(o.cfg.PricePerPixel), MaxDimension: transcode.MaxDimension,
		Features: []string{FeatureStreamedRenditions}, Transcode: "local"}
	if w := o.cfg.Workers; w != nil {
		in.Capacity, in.Free, in.Transcode = w.Capacity(), w.Free(), "remote"
	}
	if o.cfg.Address != (common.Address{}) {
		in.Address = o.cfg.Address.Hex()
	}
	return in
}

// serveInfo answers GET /api/info, with ticket parameters for the sender
// named by ?sender=0x… when this orchestrator charges.
func (o *Orchestrator) serveInfo(w http.ResponseWriter, r *http.Request) error {
	in := o.Info()
	if s := r.URL.Query().Get("sender"); s != "" && o.cfg.Params != nil {
		if !common.IsHexAddress(s) {
			return fmt.Errorf("sender %q is not an Ethereum address: %w", s, httpx.ErrBadRequest)
		}
		tp, ep, err := o.cfg.Params(r.Context(), common.HexToAddress(s))
		if err != nil {
			return err
		}
		in.TicketParams, in.ExpirationParams = &tp, &ep
		if o.cfg.Credit != nil {
			in.Credit = o.cfg.Credit(common.HexToAddress(s)).String()
		}
	}
	return httpx.WriteJSON(w, in)
}

// Handler serves POST /v1/transcode and GET /api/info, and with Workers
// their endpoints and GET /api/transcoders.
func (o *Orchestrator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(remote.Path, o.seg)
	mux.Handle("GET /api/info", httpx.Handle(o.log, o.serveInfo))
	if o.cfg.Payments != nil {
		mux.Handle("GET /api/payments", httpx.JSON(o.log, o.cfg.Payments))
	}
	if w := o.cfg.Workers; w != nil {
		wh := w.Handler()
		mux.Handle("/v1/transcoders/", wh)
		mux.Handle("/v1/jobs/", wh)
		mux.Handle("GET /api/transcoders", httpx.JSON(o.log, w.Snapshot))
	}
	return mux
}

func itoa(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
