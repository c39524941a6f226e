package trust

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// ErrReceipt means an orchestrator's signed answer does not vouch for
// what it sent: the segment fails there and moves on.
var ErrReceipt = errors.New("orchestrator's receipt does not check out")

// paramsTTL is how long fetched ticket parameters are reused; stale ones
// are refetched sooner.
const paramsTTL = 30 * time.Second

// ForNode returns the sealer for the orchestrator at base: it pays it,
// signs each segment sent there, and checks its receipts.
func (b *Broadcaster) ForNode(base string) remote.Sealer {
	return &sealer{b: b, base: strings.TrimRight(base, "/")}
}

type sealer struct {
	b    *Broadcaster
	base string

	mu      sync.Mutex
	info    nodeTerms
	fetched time.Time
	// resync says the next fetch takes the orchestrator's count of our
	// credit (after a refusal: see Failed).
	resync bool
	// signed keeps the segment records sent, so the proof holds the very
	// record the orchestrator checked (and its permit link, looked up
	// once); bounded, oldest dropped.
	signed map[signedKey]Sealed
	order  []signedKey
	holds  segmentHolds
}

// signedKey names one segment's bytes.
type signedKey struct {
	stream string
	seq    uint64
	hash   common.Hash
}

// maxSigned bounds the records kept between Segment and Answer: far more
// than the segments a stream has in flight.
const maxSigned = 256

// nodeTerms is what an orchestrator's /api/info?sender= says about paying
// it.
type nodeTerms struct {
	Address          common.Address       `json:"address"`
	PricePerPixel    string               `json:"price_per_pixel"`
	TicketParams     *pm.TicketParams     `json:"ticket_params"`
	ExpirationParams *pm.ExpirationParams `json:"expiration_params"`
	// Credit is the orchestrator's count of this broadcaster's credit.
	Credit string `json:"credit"`
	price  *big.Int
}

// terms returns the orchestrator's terms, fetching them when old or when
// fresh is set. The fetch runs without the lock, so segments to this
// orchestrator are not held up behind it.
func (s *sealer) terms(ctx context.Context, fresh bool) (nodeTerms, error) {
	s.mu.Lock()
	cached, at := s.info, s.fetched
	s.mu.Unlock()
	if !fresh && cached.price != nil && time.Since(at) < paramsTTL {
		return cached, nil
	}
	t, err := s.fetchTerms(ctx)
	if err != nil {
		return nodeTerms{}, err
	}
	s.mu.Lock()
	s.info, s.fetched = t, time.Now()
	resync := s.resync
	s.resync = false
	s.mu.Unlock()
	if resync {
		s.resyncCredit(t)
	}
	return t, nil
}

// cachedTerms are the terms last fetched (those the segments in flight were
// paid under), or fresh ones when none were.
func (s *sealer) cachedTerms(ctx context.Context) (nodeTerms, error) {
	s.mu.Lock()
	t := s.info
	s.mu.Unlock()
	if t.price != nil {
		return t, nil
	}
	return s.terms(ctx, false)
}

// fetchTerms asks the orchestrator for its terms to this broadcaster.
func (s *sealer) fetchTerms(ctx context.Context) (nodeTerms, error) {
	u := s.base + "/api/info?sender=" + url.QueryEscape(s.b.cfg.Key.Address.Hex())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nodeTerms{}, err
	}
	resp, err := s.b.cfg.HTTP.Do(req)
	if err != nil {
		return nodeTerms{}, fmt.Errorf("fetching ticket parameters: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nodeTerms{}, fmt.Errorf("fetching ticket parameters: %s: %v", resp.Status, err)
	}
	var t nodeTerms
	if err := json.Unmarshal(body, &t); err != nil {
		return nodeTerms{}, fmt.Errorf("orchestrator info: %w", err)
	}
	p, ok := new(big.Int).SetString(t.PricePerPixel, 10)
	if !ok || p.Sign() < 0 {
		return nodeTerms{}, fmt.Errorf("orchestrator info: price_per_pixel %q", t.PricePerPixel)
	}
	t.price = p
	if p.Sign() > 0 && (t.TicketParams == nil || t.ExpirationParams == nil) {
		return nodeTerms{}, fmt.Errorf("orchestrator charges %s wei per pixel but sent no ticket parameters", p)
	}
	return t, nil
}

// Headers pays for the segment: enough tickets that the credit at the
// orchestrator covers the ladder's estimated pixels at its price.
func (s *sealer) Headers(ctx context.Context, job transcode.Job) (http.Header, error) {
	t, err := s.terms(ctx, false)
	if err != nil {
		return nil, err
	}
	if perm := payer(job.Payer); perm != nil && t.price.Cmp(perm.permit.MaxPricePerPixel) > 0 {
		return nil, fmt.Errorf("orchestrator %s asks %s wei per pixel, above the publisher's permit (%s)",
			s.base, t.price, perm.permit.MaxPricePerPixel)
	}
	if t.price.Sign() == 0 {
		return nil, nil
	}
	snd := s.b.cfg.Sender
	if snd == nil {
		return nil, fmt.Errorf("orchestrator %s charges %s wei per pixel and this broadcaster pays no one", s.base, t.price)
	}
	need := new(big.Int).Mul(t.price, new(big.Int).SetUint64(EstimatePixels(job.Profiles, s.b.cfg.Segment)))
	p, err := s.payHeld(ctx, job, *t.TicketParams, *t.ExpirationParams, need)
	if errors.Is(err, pm.ErrStaleParams) {
		if t, err = s.terms(ctx, true); err != nil {
			return nil, err
		}
		p, err = s.payHeld(ctx, job, *t.TicketParams, *t.ExpirationParams, need)
	}
	if err != nil {
		return nil, err
	}
	return http.Header{remote.HeaderPayment: {pm.EncodePayment(p)}}, nil
}

// Failed learns from an orchestrator's refusal (remote.Client calls it
// for each paid request that no answer reached Answer for). A 402 means
// its view of this broadcaster's credit or of its own terms differs from
// ours: the terms are fetched afresh before the next payment. The credit
// stays. The tickets sent are the orchestrator's, and starting again from
// zero would pay a whole segment more to a node that can answer 402
// forever; netpool counts a 402 after a payment as that node's fault
// instead.
func (s *sealer) Failed(_ context.Context, job transcode.Job, code int) {
	s.holds.release(job)
	if code != http.StatusPaymentRequired && code != http.StatusServiceUnavailable {
		return
	}
	s.mu.Lock()
	s.fetched, s.resync = time.Time{}, true
	s.mu.Unlock()
}

// resyncCredit takes the orchestrator's count of our credit after a
// refusal (402: its view differs; 503: it may have kept nothing of the
// payment, say when it could not store its winning tickets), so that the
// next payment covers what it will really bill.
func (s *sealer) resyncCredit(t nodeTerms) {
	credit, ok := new(big.Int).SetString(t.Credit, 10)
	if !ok || credit.Sign() < 0 || s.b.cfg.Sender == nil || t.Address == (common.Address{}) {
		return
	}
	if was := s.b.cfg.Sender.Credit(t.Address); was.Cmp(credit) != 0 {
		s.b.log.Info("credit at the orchestrator resynced", "orchestrator", t.Address.Hex(), "was", was, "now", credit)
	}
	s.b.cfg.Sender.SetCredit(t.Address, credit)
}

// jobDuration is the segment's duration as its record signs it (0:
// unknown).
func jobDuration(job transcode.Job) time.Duration {
	if job.Duration == nil {
		return 0
	}
	return max(job.Duration(), 0).Truncate(time.Millisecond)
}

// billedDuration is the duration renditions are billed for: the signed
// one, or the nominal segment's when that is unknown.
func (s *sealer) billedDuration(job transcode.Job) time.Duration {
	if d := jobDuration(job); d > 0 {
		return d
	}
	return s.b.cfg.Segment
}

// record is the signed Segment statement for a job's bytes.
func (s *sealer) record(job transcode.Job, in remote.SegmentSum) (Sealed, error) {
	return seal(s.b.cfg.Key, s.b.cfg.Domain, segmentRecord(job, in))
}

// segmentRecord is the Segment statement for a job's bytes, as record
// signs it.
func segmentRecord(job transcode.Job, in remote.SegmentSum) sign.Segment {
	seg := sign.Segment{Stream: job.Stream, Seq: job.Seq, DurationMs: uint64(jobDuration(job).Milliseconds()),
		Hash: in.Keccak, Profiles: ProfilesHash(job.Profiles)}
	if perm := payer(job.Payer); perm != nil {
		seg.Permit = perm.digest
	}
	return seg
}

func (s *sealer) Segment(_ context.Context, job transcode.Job, in remote.SegmentSum) (string, error) {
	rec, err := s.record(job, in)
	if err != nil {
		return "", err
	}
	k := signedKey{job.Stream, job.Seq, in.Keccak}
	s.mu.Lock()
	if s.signed == nil {
		s.signed = map[signedKey]Sealed{}
	}
	if _, ok := s.signed[k]; !ok {
		s.order = append(s.order, k)
	}
	s.signed[k] = rec
	for len(s.order) > maxSigned {
		delete(s.signed, s.order[0])
		s.order = s.order[1:]
	}
	s.mu.Unlock()
	return encodeHeader(rec)
}

// sent returns the record Segment signed for these bytes.
func (s *sealer) sent(job transcode.Job, in remote.SegmentSum) (Sealed, bool) {
	k := signedKey{job.Stream, job.Seq, in.Keccak}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.signed[k]
	if ok {
		delete(s.signed, k)
		s.order = slices.DeleteFunc(s.order, func(o signedKey) bool { return o == k })
	}
	return rec, ok
}

// Answer checks the receipt: signed by the orchestrator this node pays,
// for these bytes and these renditions, with the pixels they hold, over a
// result signed by the transcoder it names (CheckSegment). It then
// settles: the credit at the orchestrator goes down, and the publisher is
// billed.
func (s *sealer) Answer(ctx context.Context, job transcode.Job, in remote.SegmentSum, hdr http.Header, rends []transcode.Rendition) (string, error) {
	defer s.holds.release(job) // after settle debited it, whatever the receipt's fate
	a, rc, res, err := s.open(hdr)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrReceipt, err)
	}
	// The terms this segment was paid under (Headers fetched them); a
	// refetch that fails must not loosen the checks or skip the bill.
	t, err := s.cachedTerms(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrReceipt, err)
	}
	// Online only: the sealer knows which orchestrator it paid.
	if t.Address != (common.Address{}) && rc.Signer != t.Address {
		return "", fmt.Errorf("%w: signed by %s, the orchestrator is %s", ErrReceipt, rc.Signer.Hex(), t.Address.Hex())
	}
	px, err := s.check(job, in, rc, res, rends)
	if err != nil {
		return "", err
	}
	// Online only: the answer is to a record this sealer signed (and
	// keeps for the proof); offline, the verifier checks its signer.
	seg, ok := s.sent(job, in)
	if !ok {
		return "", fmt.Errorf("%w: it answers a segment this broadcaster did not sign", ErrReceipt)
	}
	s.settle(context.WithoutCancel(ctx), job, rc.Signer, t.price, px)
	b, err := json.Marshal(Proof{Segment: seg, Answer: a})
	return string(b), err
}

// open reads the Castnet-Receipt header and opens its two records.
func (s *sealer) open(hdr http.Header) (Answer, Opened[sign.TranscodeReceipt], Opened[sign.TranscodeResult], error) {
	var a Answer
	if err := decodeHeader(remote.HeaderReceipt, hdr.Get(remote.HeaderReceipt), &a); err != nil {
		return a, Opened[sign.TranscodeReceipt]{}, Opened[sign.TranscodeResult]{}, err
	}
	rc := Open[sign.TranscodeReceipt](s.b.cfg.Domain, a.Receipt)
	res := Open[sign.TranscodeResult](s.b.cfg.Domain, a.Result)
	err := rc.Err
	if err == nil {
		err = res.Err
	}
	return a, rc, res, err
}

// check holds the answer to CheckSegment, against the record this sealer
// signed for the job's bytes and the renditions received, and returns the
// pixels to bill.
func (s *sealer) check(job transcode.Job, in remote.SegmentSum, rc Opened[sign.TranscodeReceipt], res Opened[sign.TranscodeResult], rends []transcode.Rendition) (uint64, error) {
	me := s.b.cfg.Key.Address
	got := CheckSegment(Claim{Broadcaster: me, Segment: Opened[sign.Segment]{Record: segmentRecord(job, in), Signer: me},
		Receipt: rc, Result: res, Job: &job, Duration: s.billedDuration(job), Renditions: received(rends), Listed: "the answer"})
	switch {
	case len(got.Failures) > 0:
		return 0, fmt.Errorf("%w: %w", ErrReceipt, got.Failures[0])
	case got.Pixels == nil:
		return 0, fmt.Errorf("%w: the renditions' pixels were not counted", ErrReceipt)
	}
	return *got.Pixels, nil
}

// received are renditions as CheckSegment takes them.
func received(rends []transcode.Rendition) []Received {
	out := make([]Received, len(rends))
	for i, r := range rends {
		out[i] = Received{Profile: r.Profile, Data: r.Data}
	}
	return out
}

// settle books the segment's cost: the sender's credit at the
// orchestrator, and the publisher's bill (within the permit's price).
func (s *sealer) settle(ctx context.Context, job transcode.Job, orch common.Address, price *big.Int, px uint64) {
	if price == nil || price.Sign() == 0 {
		return
	}
	cost := new(big.Int).Mul(price, new(big.Int).SetUint64(px))
	if s.b.cfg.Sender != nil {
		s.b.cfg.Sender.Debited(orch, cost)
	}
	// The session that made the segment pays, whoever holds the stream's
	// name now, while its permit holds.
	perm := payer(job.Payer)
	if perm == nil || s.expired(job, perm) || !perm.billed || s.b.cfg.Accounts == nil {
		return
	}
	// Within the permit's price, whatever the orchestrator charged.
	if price.Cmp(perm.permit.MaxPricePerPixel) > 0 {
		cost = new(big.Int).Mul(perm.permit.MaxPricePerPixel, new(big.Int).SetUint64(px))
	}
	key := fmt.Sprintf("%s/%s/%d", job.Stream, perm.permit.Nonce, job.Seq)
	left, err := s.b.cfg.Accounts.Bill(ctx, perm.publisher, key, cost)
	switch {
	case errors.Is(err, ErrInsufficientBalance):
		s.b.log.Warn("publisher's balance ran out: ending the session", "stream", job.Stream,
			"session", perm.session, "publisher", perm.publisher.Hex(), "err", err)
		if s.b.cfg.End != nil {
			s.b.cfg.End(job.Stream, perm.session, fmt.Errorf("publisher %s cannot pay: %w", perm.publisher.Hex(), err))
		}
	case err != nil:
		s.b.log.Error("billing the publisher failed", "stream", job.Stream, "seq", job.Seq, "err", err)
	default:
		s.b.log.Debug("publisher billed", "stream", job.Stream, "seq", job.Seq, "wei", cost, "balance", left)
	}
}

// expired reports whether the segment comes after its session's permit
// expired (admission checked it only once): such a segment is billed to
// nobody, and the session is ended.
func (s *sealer) expired(job transcode.Job, perm *permitted) bool {
	if perm.permit.Expires.Cmp(big.NewInt(s.b.cfg.Now().Unix())) > 0 {
		return false
	}
	err := fmt.Errorf("%w at %s", ErrPermitExpired, time.Unix(perm.permit.Expires.Int64(), 0).UTC().Format(time.RFC3339))
	s.b.log.Warn("publisher's permit expired: ending the session", "stream", job.Stream, "seq", job.Seq,
		"session", perm.session, "publisher", perm.publisher.Hex(), "err", err)
	if s.b.cfg.End != nil {
		s.b.cfg.End(job.Stream, perm.session, err)
	}
	return true
}
