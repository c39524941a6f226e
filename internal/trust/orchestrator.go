package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
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
	r, err := resultRecord(k.Address, in, rends)
	if err != nil {
		return Sealed{}, err
	}
	return seal(k, d, r)
}

// resultRecord is the TranscodeResult transcoder signs for rends made
// from in: their hashes and the pixels they hold.
func resultRecord(transcoder common.Address, in remote.SegmentSum, rends []transcode.Rendition) (sign.TranscodeResult, error) {
	px, err := Pixels(rends)
	if err != nil {
		return sign.TranscodeResult{}, err
	}
	return sign.TranscodeResult{Segment: in.Keccak, Renditions: renditionHashes(rends), Pixels: px, Transcoder: transcoder}, nil
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

var (
	_ remote.Gate    = (*Orchestrator)(nil)
	_ remote.Checker = (*admission)(nil)
)

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
			return nil, notTaken(err)
		}
		need := new(big.Int).Mul(price, new(big.Int).SetUint64(EstimatePixels(job.Profiles, o.cfg.Segment)))
		hold, err := rc.Reserve(p.Sender, need)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrUnpaid)
		}
		a.payer, a.paid, a.hold = p.Sender, true, hold
	}
	if v := r.Header.Get(remote.HeaderSegment); v != "" {
		if _, _, err := a.segment(v); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// storeRetry is the Retry-After of a payment refused because its winning
// tickets could not be stored: a locked or busy store clears in moments.
const storeRetry = time.Second

// notTaken classes a payment Receive refused. A store that could not keep
// its winning tickets (pm.ErrNotPersisted) is this node's failure, not the
// payer's: 503, so the segment goes elsewhere for now and the node is not
// faulted (the payment took nothing, and is good again once the store
// works). Anything else is the payment's fault: 402.
func notTaken(err error) error {
	if errors.Is(err, pm.ErrNotPersisted) {
		return httpx.WithRetryAfter(fmt.Errorf("%w: %w", err, httpx.ErrUnavailable), storeRetry)
	}
	return fmt.Errorf("%w: %w", err, ErrUnpaid)
}

// admission is one admitted segment at an orchestrator.
type admission struct {
	o     *Orchestrator
	job   transcode.Job
	payer common.Address
	paid  bool
	hold  *pm.Hold // the credit held for this segment until it is answered or ends
	in    *input   // the input as Input checked it; nil before
}

// input is a segment's bytes and the broadcaster's signed record of them,
// checked against each other.
type input struct {
	seg    sign.Segment
	signer common.Address
	sum    remote.SegmentSum
}

// segment opens the broadcaster's signed segment record and checks who
// signed it and what it names.
func (a *admission) segment(v string) (sign.Segment, common.Address, error) {
	var s Sealed
	if err := decodeHeader(remote.HeaderSegment, v, &s); err != nil {
		return sign.Segment{}, common.Address{}, fmt.Errorf("%w: %w", ErrUnsigned, err)
	}
	seg, who, err := open[sign.Segment](a.o.cfg.Domain, s)
	switch {
	case err != nil:
		return seg, who, fmt.Errorf("%w: %w", ErrUnsigned, err)
	case a.paid && who != a.payer:
		return seg, who, fmt.Errorf("%w: signed by %s, paid for by %s", ErrUnsigned, who.Hex(), a.payer.Hex())
	case seg.Stream != a.job.Stream || seg.Seq != a.job.Seq:
		return seg, who, fmt.Errorf("%w: it names %q segment %d, the request %q segment %d", ErrBadSegment,
			seg.Stream, seg.Seq, a.job.Stream, a.job.Seq)
	case seg.Profiles != ProfilesHash(a.job.Profiles):
		return seg, who, fmt.Errorf("%w: the profiles asked for are not the ones signed", ErrBadSegment)
	}
	return seg, who, nil
}

func (a *admission) Input(v string, in remote.SegmentSum) error {
	got, err := a.input(v, in)
	if err == nil {
		a.in = &got
	}
	return err
}

// input checks the broadcaster's record v against the bytes received.
func (a *admission) input(v string, in remote.SegmentSum) (input, error) {
	if v == "" {
		return input{}, fmt.Errorf("%w: send the %s header or trailer", ErrUnsigned, remote.HeaderSegment)
	}
	seg, who, err := a.segment(v)
	if err != nil {
		return input{}, err
	}
	if seg.Hash != in.Keccak {
		return input{}, fmt.Errorf("%w: signed keccak256 %s, received %d bytes hashing to %s", ErrBadSegment,
			seg.Hash.Hex(), in.Size, in.Keccak.Hex())
	}
	return input{seg: seg, signer: who, sum: in}, nil
}

// Check runs Input's checks on v and in, then Answer's on rends, and
// signs and charges nothing (remote.Checker): the transcoder pool asks it
// of each transcoder's renditions, so that those this gate would not vouch
// for fail that transcoder's job, not this orchestrator's segment. It
// changes nothing, so it may run beside Input and Answer.
func (a *admission) Check(v string, in remote.SegmentSum, rends []transcode.Rendition) error {
	got, err := a.input(v, in)
	if err != nil {
		return err
	}
	_, err = a.vouch(got, rends)
	return err
}

// Answer checks the transcoder's signed result (or signs one, when this
// node transcoded) as the broadcaster will, signs the receipt over what it
// names, and charges the broadcaster the pixels the check counted.
func (a *admission) Answer(rends []transcode.Rendition) (http.Header, error) {
	if a.in == nil {
		return nil, fmt.Errorf("%w: the input was not checked", ErrUnsigned)
	}
	v, err := a.vouch(*a.in, rends)
	if err != nil {
		return nil, err
	}
	cfg := a.o.cfg
	receipt, err := seal(cfg.Key, cfg.Domain, sign.TranscodeReceipt{Segment: a.in.sum.Keccak, Renditions: v.hashes,
		Pixels: v.pixels, Orchestrator: cfg.Key.Address, Transcoder: v.transcoder})
	if err != nil {
		return nil, err
	}
	hdr, err := encodeHeader(Answer{Receipt: receipt, Result: v.result})
	if err != nil {
		return nil, err
	}
	a.charge(v.pixels)
	return http.Header{remote.HeaderReceipt: {hdr}}, nil
}

// vouched is a transcoder's result that checked out: what a receipt signs.
type vouched struct {
	result     Sealed
	transcoder common.Address
	hashes     []common.Hash
	pixels     uint64
}

// vouch holds the result for rends to CheckSegment, the rules the
// broadcaster holds the receipt and result to: each rendition at its
// fitted size, timestamps in order, frames and the total within what the
// job's signed duration allows. So this gate vouches only for what the
// broadcaster will accept and pay for, and a transcoder's inflated pixels
// are refused here, with nothing charged.
func (a *admission) vouch(in input, rends []transcode.Rendition) (vouched, error) {
	if len(rends) == 0 {
		return vouched{}, errNoRendition
	}
	sealed, res, err := a.result(in, rends)
	if err != nil {
		return vouched{}, err
	}
	got := CheckSegment(Claim{Broadcaster: in.signer, Segment: Opened[sign.Segment]{Record: in.seg, Signer: in.signer},
		Result: res, NoReceipt: true, Job: &a.job, Duration: SignedDuration(in.seg), Renditions: received(rends),
		Listed: "the transcoder's answer"})
	switch {
	case len(got.Failures) > 0:
		return vouched{}, fmt.Errorf("%w: %w", ErrBadResult, got.Failures[0])
	case got.Pixels == nil:
		return vouched{}, fmt.Errorf("%w: the renditions' pixels were not counted", ErrBadResult)
	}
	return vouched{result: sealed, transcoder: res.Record.Transcoder, hashes: res.Record.Renditions, pixels: *got.Pixels}, nil
}

// result is the transcoder's signed result for rends, opened, or, when
// this node made them itself, the one it signs.
func (a *admission) result(in input, rends []transcode.Rendition) (Sealed, Opened[sign.TranscodeResult], error) {
	cfg := a.o.cfg
	if v := rends[0].Proof; v != "" {
		var s Sealed
		if err := decodeHeader(remote.HeaderResult, v, &s); err != nil {
			return Sealed{}, Opened[sign.TranscodeResult]{}, fmt.Errorf("%w: %w", ErrBadResult, err)
		}
		return s, Open[sign.TranscodeResult](cfg.Domain, s), nil
	}
	r, err := resultRecord(cfg.Key.Address, in.sum, rends)
	if err != nil {
		return Sealed{}, Opened[sign.TranscodeResult]{}, fmt.Errorf("%w: counting pixels: %v", ErrBadResult, err)
	}
	s, err := seal(cfg.Key, cfg.Domain, r)
	return s, Opened[sign.TranscodeResult]{Record: r, Signer: cfg.Key.Address}, err
}

// charge settles the segment's hold at px pixels' cost and counts it.
func (a *admission) charge(px uint64) {
	cost := new(big.Int)
	if a.paid {
		cost.Mul(a.o.cfg.Recipient.PricePerPixel(), new(big.Int).SetUint64(px))
		a.hold.Settle(cost)
		a.o.log.Debug("segment charged", "broadcaster", a.payer.Hex(), "pixels", px, "wei", cost)
	}
	a.o.mu.Lock()
	a.o.charged.Segments++
	a.o.charged.Pixels += px
	a.o.charged.Wei.Add(a.o.charged.Wei, cost)
	a.o.mu.Unlock()
}

// Close gives back the credit held for a segment that was not answered
// (refused, cut off for being slow, or failed).
func (a *admission) Close() { a.hold.Release() }
