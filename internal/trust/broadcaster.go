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
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

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
	// End stops a stream whose publisher can no longer pay.
	End    func(stream string, reason error)
	Now    func() time.Time
	Logger *slog.Logger
}

// Broadcaster is a broadcaster's trust: a WHIP admitter, a sealer for each
// orchestrator, and the custody log.
type Broadcaster struct {
	cfg BroadcasterConfig
	log *slog.Logger

	mu      sync.Mutex
	streams map[string]*permitted
}

// permitted is a stream published under a permit.
type permitted struct {
	publisher common.Address
	permit    sign.Permit
	digest    common.Hash
	sealed    Sealed
	// billed publishers pay from their ledger balance; those on the
	// Allowed list publish on the node's account.
	billed bool
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
	return &Broadcaster{cfg: cfg, log: cfg.Logger, streams: map[string]*permitted{}}
}

// Address is the broadcaster's.
func (b *Broadcaster) Address() common.Address { return b.cfg.Key.Address }

// Admit checks a WHIP request's permit (whip.Admitter). Without a permit
// the stream is anonymous, unless permits are required.
func (b *Broadcaster) Admit(r *http.Request, stream string) (func(), error) {
	token, _ := bearer(r.Header.Get("Authorization"))
	if !strings.HasPrefix(token, sign.TokenPrefix) {
		if b.cfg.RequirePermit {
			return nil, fmt.Errorf("this node only accepts wallet-signed streams: send Authorization: Bearer %s… (the publisher page's Connect wallet, or castnet publish -eth-key FILE): %w",
				sign.TokenPrefix, httpx.ErrUnauthorized)
		}
		b.forget(stream)
		return func() {}, nil
	}
	publisher, p, err := sign.CheckPermit(b.cfg.Domain, token, sign.PermitPolicy{
		Broadcaster: b.cfg.Key.Address, Stream: stream, Now: b.cfg.Now()})
	switch {
	case errors.Is(err, sign.ErrForbidden):
		return nil, refusal(err, httpx.ErrForbidden)
	case err != nil:
		return nil, refusal(err, httpx.ErrUnauthorized)
	}
	ctx := r.Context()
	billed := !slices.Contains(b.cfg.Allowed, publisher)
	if billed {
		bal := new(big.Int)
		if b.cfg.Accounts != nil {
			if bal, err = b.cfg.Accounts.PublisherBalance(ctx, publisher); err != nil {
				return nil, err
			}
		}
		if bal.Sign() <= 0 {
			return nil, fmt.Errorf("publisher %s is not allowed: not on this node's publishers list and no balance in its ledger (castnet ledger fund -publisher %s AMOUNT): %w",
				publisher.Hex(), publisher.Hex(), httpx.ErrForbidden)
		}
	}
	if b.cfg.MinPrice != nil {
		if low := b.cfg.MinPrice(); low != nil && p.MaxPricePerPixel.Cmp(low) < 0 {
			return nil, fmt.Errorf("price above the permit: the cheapest orchestrator asks %s wei per pixel, the permit allows %s: %w",
				low, p.MaxPricePerPixel, httpx.ErrForbidden)
		}
	}
	if b.cfg.Accounts != nil {
		if err := b.cfg.Accounts.UsePermitNonce(ctx, publisher, p.Nonce); err != nil {
			if errors.Is(err, ErrNonceUsed) {
				return nil, fmt.Errorf("permit replayed: nonce %s of %s was already used: %w", p.Nonce, publisher.Hex(), httpx.ErrForbidden)
			}
			return nil, err
		}
	}
	sealed, err := sealedPermit(p, token)
	if err != nil {
		return nil, err
	}
	entry := &permitted{publisher: publisher, permit: p, digest: sign.PermitDigest(b.cfg.Domain, p),
		sealed: sealed, billed: billed}
	b.mu.Lock()
	b.streams[stream] = entry
	b.mu.Unlock()
	b.log.Info("publisher admitted by permit", "stream", stream, "publisher", publisher.Hex(),
		"expires", time.Unix(p.Expires.Int64(), 0).UTC().Format(time.RFC3339), "max_price_per_pixel", p.MaxPricePerPixel)
	// The permit stays linked to the stream after the session ends: its
	// last segments are still being transcoded, signed and billed. The
	// next admission of the name replaces it.
	return func() {}, nil
}

// forget unlinks a stream name from the permit it was last published
// under: an anonymous session of that name has none.
func (b *Broadcaster) forget(stream string) {
	b.mu.Lock()
	delete(b.streams, stream)
	b.mu.Unlock()
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

// stream returns the permit a stream is published under, or nil.
func (b *Broadcaster) stream(name string) *permitted {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.streams[name]
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
