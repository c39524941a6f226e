package trust

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/clock"
	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
)

// Accounts is the broadcaster's side of the ledger: publisher balances
// and permit nonces.
type Accounts interface {
	PublisherBalance(ctx context.Context, publisher common.Address) (*big.Int, error)
	// UsePermitNonce spends a permit nonce; a second use fails with an
	// error that Is ErrNonceUsed.
	UsePermitNonce(ctx context.Context, publisher common.Address, nonce *big.Int) error
	// Bill charges a publisher once per key; a short balance charges
	// nothing and fails with an error that Is ErrInsufficientBalance.
	Bill(ctx context.Context, publisher common.Address, key string, amount *big.Int) (*big.Int, error)
}

// Ledger errors the broadcaster recognises (the ledger wraps its own).
var (
	ErrNonceUsed           = errors.New("permit nonce already used")
	ErrInsufficientBalance = errors.New("publisher balance too low")
)

// ErrPermitExpired ends a session whose permit expired while it was live.
var ErrPermitExpired = errors.New("publisher's permit expired")

// BroadcasterConfig configures a broadcaster's trust: who may publish,
// what it signs, how it pays.
type BroadcasterConfig struct {
	Key    sign.Key
	Domain sign.Domain
	// Accounts holds publisher balances and spent nonces.
	Accounts Accounts
	// Allowed publishers may publish without a balance.
	Allowed []common.Address
	// RequirePermit refuses anonymous publishing.
	RequirePermit bool
	// MinPrice returns the cheapest eligible orchestrator's price per
	// pixel, or nil when unknown; a permit that allows less is refused.
	MinPrice func() *big.Int
	// MaxPrice is the most this broadcaster pays per pixel (nil: no cap);
	// the permit page suggests it, or twice the cheapest price without it,
	// so a stream can fail over to a dearer orchestrator.
	MaxPrice *big.Int
	// Sender pays orchestrators that charge; nil pays nobody.
	Sender *pm.Sender
	// HTTP fetches orchestrators' ticket parameters (default: a client
	// with a 5 s timeout).
	HTTP *http.Client
	// Segment is the nominal segment duration payments are made ahead for.
	Segment time.Duration
	// End stops the session of a stream whose publisher can no longer
	// pay (whip.Server.End): the session is named, so a later session of
	// the same name is never ended for an earlier one's bill.
	End func(stream, session string, reason error)
	Now func() time.Time
	// Timers runs the timer that ends a permit's session when the permit
	// expires, whatever its segments cost (nil: real time).
	Timers clock.Clock
	Logger *slog.Logger
}

// Broadcaster is a broadcaster's trust: a WHIP admitter, a sealer for each
// orchestrator, and the custody log. It keeps no state per stream name:
// what a session was admitted under travels with its segments (see
// permitted).
type Broadcaster struct {
	cfg BroadcasterConfig
	log *slog.Logger
}

// permitted is one session published under a permit: the payer its
// admission commits (whip.Publish.Payer), carried by each of its segments'
// transcode jobs (transcode.Job.Payer) and custody records, so a segment
// is signed for and billed to the session that made it, whatever is
// admitted under the stream's name later. It is never changed once
// committed.
type permitted struct {
	stream, session string
	publisher       common.Address
	permit          sign.Permit
	digest          common.Hash
	sealed          Sealed
	// billed publishers pay from their ledger balance; those on the
	// Allowed list publish on the node's account.
	billed bool
	// logged is set once the session's permit line is in its custody log
	// (a reconnected publisher's session continues its predecessor's log).
	logged *atomic.Bool
}

// String names the payer in logs.
func (p *permitted) String() string {
	return fmt.Sprintf("%s (permit nonce %s)", p.publisher.Hex(), p.permit.Nonce)
}

// payer is the permit the session behind a job or a published segment was
// admitted under, or nil (anonymous).
func payer(who fmt.Stringer) *permitted {
	p, _ := who.(*permitted)
	return p
}

// NewBroadcaster builds a broadcaster's trust.
func NewBroadcaster(cfg BroadcasterConfig) *Broadcaster {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Segment <= 0 {
		cfg.Segment = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Broadcaster{cfg: cfg, log: cfg.Logger}
}

// Address is the broadcaster's.
func (b *Broadcaster) Address() common.Address { return b.cfg.Key.Address }

// commitFunc is whip.Commit, spelled out so that this package need not
// import whip.
type commitFunc = func(ctx context.Context, session string) (fmt.Stringer, error)

// anonymous commits an anonymous session: nobody pays, nothing to spend.
func anonymous(context.Context, string) (fmt.Stringer, error) { return nil, nil }

// Admit checks a WHIP request's permit (whip.Admitter). Without a permit
// the stream is anonymous, unless permits are required. It only decides:
// the permit's nonce is spent, and the session bound to it, by the commit
// it returns, which whip calls once the stream name is the session's. A
// POST refused after Admit (409: the stream is live) so spends nothing
// and touches no live session.
func (b *Broadcaster) Admit(r *http.Request, stream string) (commitFunc, error) {
	token, _ := bearer(r.Header.Get("Authorization"))
	if !strings.HasPrefix(token, sign.TokenPrefix) {
		if b.cfg.RequirePermit {
			return nil, fmt.Errorf("this node only accepts wallet-signed streams: send Authorization: Bearer %s… (the publisher page's Connect wallet, or castnet publish -eth-key FILE): %w",
				sign.TokenPrefix, httpx.ErrUnauthorized)
		}
		return anonymous, nil
	}
	perm, err := b.checkPermit(r.Context(), token, stream)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, session string) (fmt.Stringer, error) {
		return b.commit(ctx, *perm, session)
	}, nil
}

// Owner names the publisher of an admitted WHIP request (whip.Admitter):
// its permit's signer, "" for an anonymous one. A new session of the same
// signer may take over its own dead session of the name.
func (b *Broadcaster) Owner(r *http.Request, stream string) string {
	token, _ := bearer(r.Header.Get("Authorization"))
	if !strings.HasPrefix(token, sign.TokenPrefix) {
		return ""
	}
	publisher, _, err := sign.CheckPermit(b.cfg.Domain, token, sign.PermitPolicy{
		Broadcaster: b.cfg.Key.Address, Stream: stream, Now: b.cfg.Now()})
	if err != nil {
		return ""
	}
	return publisher.Hex()
}

// checkPermit checks a permit token for stream: signature, policy,
// standing and price. It reads the ledger and changes nothing.
func (b *Broadcaster) checkPermit(ctx context.Context, token, stream string) (*permitted, error) {
	publisher, p, err := sign.CheckPermit(b.cfg.Domain, token, sign.PermitPolicy{
		Broadcaster: b.cfg.Key.Address, Stream: stream, Now: b.cfg.Now()})
	switch {
	case errors.Is(err, sign.ErrForbidden):
		return nil, refusal(err, httpx.ErrForbidden)
	case err != nil:
		return nil, refusal(err, httpx.ErrUnauthorized)
	}
	billed := !slices.Contains(b.cfg.Allowed, publisher)
	if billed {
		if err := b.checkBalance(ctx, publisher); err != nil {
			return nil, err
		}
	}
	if b.cfg.MinPrice != nil {
		if low := b.cfg.MinPrice(); low != nil && p.MaxPricePerPixel.Cmp(low) < 0 {
			return nil, fmt.Errorf("price above the permit: the cheapest orchestrator asks %s wei per pixel, the permit allows %s: %w",
				low, p.MaxPricePerPixel, httpx.ErrForbidden)
		}
	}
	sealed, err := sealedPermit(p, token)
	if err != nil {
		return nil, err
	}
	return &permitted{stream: stream, publisher: publisher, permit: p, digest: sign.PermitDigest(b.cfg.Domain, p),
		sealed: sealed, billed: billed}, nil
}

// checkBalance refuses a publisher with nothing to pay with.
func (b *Broadcaster) checkBalance(ctx context.Context, publisher common.Address) error {
	bal := new(big.Int)
	if b.cfg.Accounts != nil {
		var err error
		if bal, err = b.cfg.Accounts.PublisherBalance(ctx, publisher); err != nil {
			return err
		}
	}
	if bal.Sign() <= 0 {
		return fmt.Errorf("publisher %s is not allowed: not on this node's publishers list and no balance in its ledger (castnet ledger fund -publisher %s AMOUNT): %w",
			publisher.Hex(), publisher.Hex(), httpx.ErrForbidden)
	}
	return nil
}

// commit spends the permit's nonce for session, which now holds the
// stream name, and returns the session's payer. A nonce already spent
// (a replay, or the same token's other POST that committed first) refuses
// the session.
func (b *Broadcaster) commit(ctx context.Context, perm permitted, session string) (fmt.Stringer, error) {
	if b.cfg.Accounts != nil {
		if err := b.cfg.Accounts.UsePermitNonce(ctx, perm.publisher, perm.permit.Nonce); err != nil {
			if errors.Is(err, ErrNonceUsed) {
				return nil, fmt.Errorf("permit replayed: nonce %s of %s was already used: %w", perm.permit.Nonce, perm.publisher.Hex(), httpx.ErrForbidden)
			}
			return nil, err
		}
	}
	perm.session, perm.logged = session, new(atomic.Bool)
	b.endAtExpiry(perm)
	b.log.Info("publisher admitted by permit", "stream", perm.stream, "session", session, "publisher", perm.publisher.Hex(),
		"expires", time.Unix(perm.permit.Expires.Int64(), 0).UTC().Format(time.RFC3339), "max_price_per_pixel", perm.permit.MaxPricePerPixel)
	return &perm, nil
}

// endAtExpiry ends perm's session when its permit expires. Settling a
// segment checks the expiry too, but only segments that cost something
// are settled: a session transcoded for free, or published as source
// only, would otherwise outlive its permit. Ending a session that already
// ended does nothing (whip.Server.End names it by id).
func (b *Broadcaster) endAtExpiry(perm permitted) {
	if b.cfg.End == nil {
		return
	}
	at := time.Unix(perm.permit.Expires.Int64(), 0)
	clock.Or(b.cfg.Timers).AfterFunc(at.Sub(b.cfg.Now()), func() {
		err := fmt.Errorf("%w at %s", ErrPermitExpired, at.UTC().Format(time.RFC3339))
		b.log.Info("publisher's permit expired: ending the session", "stream", perm.stream,
			"session", perm.session, "publisher", perm.publisher.Hex())
		b.cfg.End(perm.stream, perm.session, err)
	})
}

// refusal is err's reason (without the sign package's class prefix) with
// the HTTP status class.
func refusal(err, status error) error {
	reason := err.Error()
	for _, class := range []error{sign.ErrForbidden, sign.ErrUnauthorized} {
		reason = strings.TrimPrefix(reason, class.Error()+": ")
	}
	return fmt.Errorf("%s: %w", reason, status)
}

// sealedPermit keeps the permit and its signature as the token carried
// them, for the custody log.
func sealedPermit(p sign.Permit, token string) (Sealed, error) {
	_, sig, err := sign.ParseToken(token)
	if err != nil {
		return Sealed{}, err
	}
	b, err := p.MarshalJSON()
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{Record: b, Signature: sig}, nil
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// PublishRequestHandler serves GET /api/eip712: the typed data a wallet
// signs a Publish permit with, and what this node suggests and requires.
func (b *Broadcaster) PublishRequestHandler() http.Handler {
	return httpx.JSON(b.log, func() any {
		req := sign.PublishRequest(b.cfg.Domain, b.cfg.Key.Address).(map[string]any)
		req["requirePermit"] = b.cfg.RequirePermit
		suggest := new(big.Int)
		if b.cfg.MinPrice != nil {
			if low := b.cfg.MinPrice(); low != nil {
				suggest.Lsh(low, 1)
			}
		}
		if b.cfg.MaxPrice != nil {
			suggest.Set(b.cfg.MaxPrice)
		}
		req["maxPricePerPixel"] = suggest.String()
		return req
	})
}
