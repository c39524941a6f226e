package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// Errors of a node's gate, each mapped to its HTTP status.
var (
	ErrUnsigned    = fmt.Errorf("segment not signed by its broadcaster: %w", httpx.ErrUnauthorized)
	ErrBadSegment  = fmt.Errorf("signed segment does not match what arrived: %w", httpx.ErrBadRequest)
	ErrBadResult   = fmt.Errorf("transcoder's result does not check out: %w", httpx.ErrBadGateway)
	ErrUnpaid      = httpx.ErrPaymentRequired
	errNoRendition = errors.New("no renditions")
)

// Vouch returns a transcoder's signer: its TranscodeResult over what it
// made from an input, as the value of the Castnet-Result header.
func Vouch(k sign.Key, d sign.Domain) func(remote.SegmentSum, []transcode.Rendition) (string, error) {
	return func(in remote.SegmentSum, rends []transcode.Rendition) (string, error) {
		s, err := sealResult(k, d, in, rends)
		if err != nil {
			return "", err
		}
		return encodeHeader(s)
	}
}

func sealResult(k sign.Key, d sign.Domain, in remote.SegmentSum, rends []transcode.Rendition) (Sealed, error) {
	px, err := Pixels(rends)
	if err != nil {
		return Sealed{}, err
	}
	return seal(k, d, sign.TranscodeResult{Segment: in.Keccak, Renditions: renditionHashes(rends),
		Pixels: px, Transcoder: k.Address})
}

// OrchestratorConfig configures an orchestrator's gate.
type OrchestratorConfig struct {
	Key    sign.Key
	Domain sign.Domain
	// Recipient takes the tickets; nil when the orchestrator is free.
	Recipient *pm.Recipient
	// Segment is the nominal segment duration credit is reserved for
	// (default 2 s).
	Segment time.Duration
	Logger  *slog.Logger
}

// Orchestrator is an orchestrator's remote.Gate.
type Orchestrator struct {
	cfg OrchestratorConfig
	log *slog.Logger

	mu      sync.Mutex
	charged Charged
}

// Charged is what an orchestrator has signed receipts for and charged.
type Charged struct {
	Segments uint64   `json:"segments"`
	Pixels   uint64   `json:"pixels"`
	Wei      *big.Int `json:"-"`
}

// MarshalJSON writes wei as a decimal string.
func (c Charged) MarshalJSON() ([]byte, error) {
	type plain Charged
	return json.Marshal(struct {
		plain
		Wei string `json:"wei"`
	}{plain(c), c.Wei.String()})
}

// Payments is the orchestrator's payment state, for GET /api/payments.
func (o *Orchestrator) Payments() any {
	o.mu.Lock()
	c := o.charged
	c.Wei = new(big.Int).Set(o.charged.Wei)
	o.mu.Unlock()
	out := map[string]any{"charged": c}
	if rc := o.cfg.Recipient; rc != nil {
		out["tickets"] = rc.Stats()
		out["pricePerPixel"] = rc.PricePerPixel().String()
	}
	return out
}

// NewOrchestrator builds a gate.
func NewOrchestrator(cfg OrchestratorConfig) *Orchestrator {
	if cfg.Segment <= 0 {
		cfg.Segment = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Orchestrator{cfg: cfg, log: cfg.Logger, charged: Charged{Wei: new(big.Int)}}
}

var _ remote.Gate = (*Orchestrator)(nil)

// Admit takes the segment's payment before any work: tickets are checked
// and credited, and the broadcaster's credit must cover the segment's
// estimated cost. A segment uploaded whole has its signed record in the
// headers, checked here too; a streamed one brings it as a trailer,
// checked (with the bytes' hash) before anything is signed or charged.
func (o *Orchestrator) Admit(r *http.Request, job transcode.Job) (remote.Admission, error) {
	a := &admission{o: o, job: job}
	if rc := o.cfg.Recipient; rc != nil {
		price := rc.PricePerPixel()
		v := r.Header.Get(remote.HeaderPayment)
		if v == "" {
			return nil, fmt.Errorf("this orchestrator charges %s wei per pixel: get ticket parameters from GET /api/info?sender=YOUR_ADDRESS and send tickets in %s: %w",
				price, remote.HeaderPayment, ErrUnpaid)
		}
		p, err := pm.ParsePayment(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrUnpaid)
		}
		if _, err := rc.Receive(r.Context(), p); err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrUnpaid)
		}
		need := new(big.Int).Mul(price, new(big.Int).SetUint64(EstimatePixels(job.Profiles, o.cfg.Segment)))
		hold, err := rc.Reserve(p.Sender, need)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrUnpaid)
		}
		a.payer, a.paid, a.hold = p.Sender, true, hold
	}
	if v := r.Header.Get(remote.HeaderSegment); v != "" {
		if _, err := a.segment(v); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// admission is one admitted segment at an orchestrator.
type admission struct {
	o      *Orchestrator
	job    transcode.Job
	payer  common.Address
	paid   bool
	hold   *pm.Hold // the credit held for this segment until it is answered or ends
	signer common.Address
	in     remote.SegmentSum
}

// segment opens the broadcaster's signed segment record and checks who
// signed it and what it names.
func (a *admission) segment(v string) (sign.Segment, error) {
	var s Sealed
	if err := decodeHeader(remote.HeaderSegment, v, &s); err != nil {
		return sign.Segment{}, fmt.Errorf("%w: %w", ErrUnsigned, err)
	}
	seg, who, err := open[sign.Segment](a.o.cfg.Domain, s)
	if err != nil {
		return sign.Segment{}, fmt.Errorf("%w: %w", ErrUnsigned, err)
	}
	switch {
	case a.paid && who != a.payer:
		return seg, fmt.Errorf("%w: signed by %s, paid for by %s", ErrUnsigned, who.Hex(), a.payer.Hex())
	case seg.Stream != a.job.Stream || seg.Seq != a.job.Seq:
		return seg, fmt.Errorf("%w: it names %q segment %d, the request %q segment %d", ErrBadSegment,
			seg.Stream, seg.Seq, a.job.Stream, a.job.Seq)
	case seg.Profiles != ProfilesHash(a.job.Profiles):
		return seg, fmt.Errorf("%w: the profiles asked for are not the ones signed", ErrBadSegment)
	}
	a.signer = who
	return seg, nil
}

func (a *admission) Input(v string, in remote.SegmentSum) error {
	if v == "" {
		return fmt.Errorf("%w: send the %s header or trailer", ErrUnsigned, remote.HeaderSegment)
	}
	seg, err := a.segment(v)
	if err != nil {
		return err
	}
	if seg.Hash != in.Keccak {
		return fmt.Errorf("%w: signed keccak256 %s, received %d bytes hashing to %s", ErrBadSegment,
			seg.Hash.Hex(), in.Size, in.Keccak.Hex())
	}
	a.in = in
	return nil
}

// Answer checks the transcoder's signed result (or signs one, when this
// node transcoded), signs the receipt, and charges the broadcaster.
func (a *admission) Answer(rends []transcode.Rendition) (http.Header, error) {
	if len(rends) == 0 {
		return nil, errNoRendition
	}
	cfg := a.o.cfg
	hashes := renditionHashes(rends)
	px, err := Pixels(rends)
	if err != nil {
		return nil, fmt.Errorf("%w: counting pixels: %v", ErrBadResult, err)
	}
	var result Sealed
	transcoder := cfg.Key.Address
	if v := rends[0].Proof; v != "" {
		if err := decodeHeader(remote.HeaderResult, v, &result); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadResult, err)
		}
		res, who, err := open[sign.TranscodeResult](cfg.Domain, result)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrBadResult, err)
		case res.Transcoder != who:
			return nil, fmt.Errorf("%w: result names transcoder %s but %s signed it", ErrBadResult, res.Transcoder.Hex(), who.Hex())
		case res.Segment != a.in.Keccak || !slices.Equal(res.Renditions, hashes) || res.Pixels != px:
			return nil, fmt.Errorf("%w: it is for other bytes or another pixel count (%d, counted %d)", ErrBadResult, res.Pixels, px)
		}
		transcoder = who
	} else if result, err = sealResult(cfg.Key, cfg.Domain, a.in, rends); err != nil {
		return nil, err
	}
	receipt, err := seal(cfg.Key, cfg.Domain, sign.TranscodeReceipt{Segment: a.in.Keccak, Renditions: hashes,
		Pixels: px, Orchestrator: cfg.Key.Address, Transcoder: transcoder})
	if err != nil {
		return nil, err
	}
	v, err := encodeHeader(Answer{Receipt: receipt, Result: result})
	if err != nil {
		return nil, err
	}
	cost := new(big.Int)
	if a.paid {
		cost.Mul(cfg.Recipient.PricePerPixel(), new(big.Int).SetUint64(px))
		a.hold.Settle(cost)
		a.o.log.Debug("segment charged", "broadcaster", a.payer.Hex(), "pixels", px, "wei", cost)
	}
	a.o.mu.Lock()
	a.o.charged.Segments++
	a.o.charged.Pixels += px
	a.o.charged.Wei.Add(a.o.charged.Wei, cost)
	a.o.mu.Unlock()
	return http.Header{remote.HeaderReceipt: {v}}, nil
}

// Close gives back the credit held for a segment that was not answered
// (refused, cut off for being slow, or failed).
func (a *admission) Close() { a.hold.Release() }
