package pm

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
)

// Defaults of RecipientConfig.
const (
	// DefaultFaceValue is the face value of tickets, in wei (0.001 ETH).
	// Livepeer sets the face value to the gas cost of redeeming a ticket
	// times a multiplier (100) so that gas eats at most ~1% of what a
	// winner pays: redeeming on Arbitrum costs ~350k gas at ~0.01–0.1 gwei,
	// i.e. 3.5e12–3.5e13 wei, × 100 ≈ 3.5e14–3.5e15 wei. The face value is
	// raised to MinFaceValueMultiple × the ticket EV when that is higher.
	DefaultFaceValue = 1_000_000_000_000_000
	// MinFaceValueMultiple is how many times the expected value of a
	// ticket its face value should be at least (winProb ≤ 1/100): a
	// winner must be worth the gas of redeeming it, and winners must be
	// rare enough to queue. The default face value respects it.
	MinFaceValueMultiple = 100
	// DefaultEVPixels is how many output pixels one ticket pays for by
	// default: one second of the default ladder (720p, 480p and 360p at
	// 30 fps: (1280×720 + 854×480 + 640×360) × 30). A 2 s segment then
	// takes about two tickets, and a sender's credit stays within about a
	// second of work of what it owes.
	DefaultEVPixels = 46_857_600
	// DefaultParamsTTL is how many broker blocks ticket parameters stay
	// valid: 10 minutes on the embedded ledger (a block is a second).
	DefaultParamsTTL = 600
	// DefaultMaxNoncesPerRand is how many tickets one set of parameters
	// may pay for (go-livepeer's limit).
	DefaultMaxNoncesPerRand = 600
	// DefaultRedeemAttempts is how many times a winning ticket is sent to
	// the broker before it is given up.
	DefaultRedeemAttempts = 10
	// DefaultRedeemBackoff is the wait before the first retry of a failed
	// redemption; it doubles per attempt up to maxRedeemBackoff.
	DefaultRedeemBackoff = 2 * time.Second
	maxRedeemBackoff     = 5 * time.Minute
	secretLen            = 32
)

// RecipientConfig configures a Recipient. Zero fields take the defaults.
type RecipientConfig struct {
	// Key is the orchestrator's identity: tickets name its address.
	Key sign.Key
	// Secret keys RecipientRand. Leave it nil to get 32 random bytes: the
	// nonces Receive has seen live in memory, so with a secret that
	// survives a restart, payments seen before it could be replayed until
	// their parameters expire (ParamsTTL blocks).
	Secret []byte
	// Broker tells the block, round and sender funds, and redeems winners.
	Broker Broker
	// PricePerPixel is the orchestrator's price in wei per output pixel
	// (required; zero is a free orchestrator).
	PricePerPixel *big.Int
	// TicketEV is the expected value of one ticket in wei; default
	// PricePerPixel × DefaultEVPixels.
	TicketEV *big.Int
	// FaceValue is what a winning ticket pays in wei; default the larger
	// of DefaultFaceValue and MinFaceValueMultiple × TicketEV. It must be
	// at least TicketEV (winProb ≤ 1); below MinFaceValueMultiple ×
	// TicketEV (winProb > 1/100) NewRecipient logs a warning.
	FaceValue *big.Int
	// ParamsTTL is how many broker blocks ticket parameters stay valid;
	// default DefaultParamsTTL.
	ParamsTTL int64
	// MaxNoncesPerRand is how many tickets one set of parameters may
	// carry; default DefaultMaxNoncesPerRand.
	MaxNoncesPerRand int
	// RedeemAttempts and RedeemBackoff bound the retries of redemptions
	// that fail for a transient reason; defaults DefaultRedeemAttempts and
	// DefaultRedeemBackoff.
	RedeemAttempts int
	RedeemBackoff  time.Duration
	// Rand is the source of seeds (and of Secret when nil); default
	// crypto/rand. Tests inject a deterministic one.
	Rand io.Reader
	// Log receives redemption results and refused payments; nil discards.
	Log *slog.Logger
}

// Recipient is the orchestrator's side of payments: it hands out ticket
// parameters, checks the payments that come back, keeps each sender's
// credit and redeems winning tickets in the background until Close.
// Its methods are safe for concurrent use.
type Recipient struct {
	key       sign.Key
	secret    []byte
	broker    Broker
	price     *big.Int
	ev        *big.Int
	face      *big.Int
	winProb   *big.Int
	ttl       int64
	maxNonces int
	attempts  int
	backoff   time.Duration
	log       *slog.Logger

	randMu sync.Mutex
	rand   io.Reader

	mu       sync.Mutex
	rands    map[common.Hash]*randUse
	sweptAt  *big.Int
	balances map[common.Address]*big.Int
	held     map[common.Address]*held // credit held for segments in flight (Reserve)
	queue    []*winner
	stats    RecipientStats

	wake      chan struct{}
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// randUse is the nonces seen for one recipientRandHash.
type randUse struct {
	expires *big.Int
	nonces  map[uint32]struct{}
}

// NewRecipient checks the configuration and starts the redemption
// goroutine; Close stops it.
func NewRecipient(cfg RecipientConfig) (*Recipient, error) {
	if cfg.Key.Private == nil || cfg.Key.Address == (common.Address{}) {
		return nil, errors.New("pm: recipient needs a key")
	}
	if cfg.Broker == nil {
		return nil, errors.New("pm: recipient needs a broker")
	}
	if cfg.PricePerPixel == nil || cfg.PricePerPixel.Sign() < 0 || cfg.PricePerPixel.BitLen() > 128 {
		return nil, errors.New("pm: recipient needs a price per pixel between 0 and 2^128 wei")
	}
	r := &Recipient{
		key:       cfg.Key,
		broker:    cfg.Broker,
		price:     new(big.Int).Set(cfg.PricePerPixel),
		ttl:       cfg.ParamsTTL,
		maxNonces: cfg.MaxNoncesPerRand,
		attempts:  cfg.RedeemAttempts,
		backoff:   cfg.RedeemBackoff,
		log:       cfg.Log,
		rand:      cfg.Rand,
		rands:     make(map[common.Hash]*randUse),
		sweptAt:   new(big.Int),
		balances:  make(map[common.Address]*big.Int),
		held:      make(map[common.Address]*held),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.rand == nil {
		r.rand = rand.Reader
	}
	if r.ttl <= 0 {
		r.ttl = DefaultParamsTTL
	}
	if r.maxNonces <= 0 {
		r.maxNonces = DefaultMaxNoncesPerRand
	}
	if r.attempts <= 0 {
		r.attempts = DefaultRedeemAttempts
	}
	if r.backoff <= 0 {
		r.backoff = DefaultRedeemBackoff
	}
	r.ev = new(big.Int).Mul(r.price, big.NewInt(DefaultEVPixels))
	if cfg.TicketEV != nil {
		r.ev = new(big.Int).Set(cfg.TicketEV)
	}
	minFace := new(big.Int).Mul(r.ev, big.NewInt(MinFaceValueMultiple))
	if cfg.FaceValue != nil {
		r.face = new(big.Int).Set(cfg.FaceValue)
	} else {
		r.face = big.NewInt(DefaultFaceValue)
		if r.face.Cmp(minFace) < 0 {
			r.face = minFace
		}
	}
	switch {
	case r.ev.Sign() < 0:
		return nil, fmt.Errorf("pm: ticket EV %s wei is negative", r.ev)
	case r.face.Sign() <= 0 || r.face.BitLen() > 256:
		return nil, fmt.Errorf("pm: face value %s wei must be positive and fit 256 bits", r.face)
	case r.face.Cmp(r.ev) < 0:
		return nil, fmt.Errorf("pm: face value %s wei is below the ticket EV (%s wei)", r.face, r.ev)
	case r.face.Cmp(minFace) < 0:
		r.log.Warn("face value below the advised multiple of the ticket EV: winners will be frequent and redemption costs may eat the payments",
			"faceValue", r.face, "ticketEV", r.ev, "advisedMultiple", MinFaceValueMultiple)
	}
	r.winProb = WinProbFor(r.ev, r.face)
	r.secret = cfg.Secret
	if r.secret == nil {
		r.secret = make([]byte, secretLen)
		if _, err := io.ReadFull(r.rand, r.secret); err != nil {
			return nil, fmt.Errorf("pm: making the recipient secret: %w", err)
		}
	} else {
		r.secret = append([]byte(nil), r.secret...)
	}
	r.stats.ValueCredited, r.stats.ValueRedeemed = new(big.Int), new(big.Int)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.redeemLoop(ctx)
	return r, nil
}

// Address is the recipient's address.
func (r *Recipient) Address() common.Address { return r.key.Address }

// PricePerPixel is the price the recipient charges, in wei per pixel.
func (r *Recipient) PricePerPixel() *big.Int { return new(big.Int).Set(r.price) }

// TicketEV is the expected value of one ticket, in wei.
func (r *Recipient) TicketEV() *big.Int { return new(big.Int).Set(r.ev) }

// Params makes fresh ticket parameters for sender: a new random seed,
// expiring ParamsTTL blocks from now, in the broker's current round. The
// recipient keeps nothing: Receive recomputes the recipientRand from
// what a payment echoes back.
func (r *Recipient) Params(ctx context.Context, sender common.Address) (TicketParams, ExpirationParams, error) {
	block, err := r.broker.CurrentBlock(ctx)
	if err != nil {
		return TicketParams{}, ExpirationParams{}, fmt.Errorf("pm: current block: %w", err)
	}
	round, err := r.broker.CurrentRound(ctx)
	if err != nil {
		return TicketParams{}, ExpirationParams{}, fmt.Errorf("pm: current round: %w", err)
	}
	if round.Number < 0 || block == nil || block.Sign() < 0 {
		return TicketParams{}, ExpirationParams{}, fmt.Errorf("pm: broker reports block %v, round %d", block, round.Number)
	}
	var seed [32]byte
	r.randMu.Lock()
	_, err = io.ReadFull(r.rand, seed[:])
	r.randMu.Unlock()
	if err != nil {
		return TicketParams{}, ExpirationParams{}, fmt.Errorf("pm: making a seed: %w", err)
	}
	exp := ExpirationParams{CreationRound: round.Number, CreationRoundBlockHash: round.BlockHash}
	p := TicketParams{
		Recipient:       r.key.Address,
		FaceValue:       new(big.Int).Set(r.face),
		WinProb:         new(big.Int).Set(r.winProb),
		Seed:            new(big.Int).SetBytes(seed[:]),
		ExpirationBlock: new(big.Int).Add(block, big.NewInt(r.ttl)),
		PricePerPixel:   new(big.Int).Set(r.price),
	}
	p.RecipientRandHash = RandHash(r.recipientRand(sender, p, exp))
	return p, exp, nil
}

func (r *Recipient) recipientRand(sender common.Address, p TicketParams, exp ExpirationParams) *big.Int {
	return RecipientRand(r.secret, p.Seed, sender, p.FaceValue, p.WinProb, p.ExpirationBlock, p.PricePerPixel, exp.AuxData())
}

// Receive checks a payment and credits the sender with the expected value
// of its tickets. Checks, in order: the numbers are in range; the tickets
// are for this recipient; the parameters are ones this recipient made for
// this sender, unaltered; their price is at least the current one (a
// recipient that lowered its price still honours parameters at the older,
// higher price); they have not expired, by block or by round; every
// signature is the sender's; every nonce is new for the parameters and
// within MaxNoncesPerRand; the sender has at least the face value locked.
// A payment fails as a whole, before anything is credited; its error is
// then a *PaymentError (errors.Is ErrPayment). Other errors are the
// broker's. Winning tickets are queued for redemption. A payment with no
// ticket credits nothing; it passes the checks up to expiry, which do not
// authenticate its sender (see the package notes in PaymentHeader).
func (r *Recipient) Receive(ctx context.Context, p Payment) (*big.Int, error) {
	credited, winners, err := r.receive(ctx, p)
	if err != nil {
		var pe *PaymentError
		if errors.As(err, &pe) {
			r.mu.Lock()
			r.stats.PaymentsRefused++
			r.mu.Unlock()
			r.log.Debug("payment refused", "sender", p.Sender, "reason", pe.Reason)
		}
		return nil, err
	}
	if winners > 0 {
		r.log.Info("winning tickets received", "sender", p.Sender, "count", winners, "faceValue", p.Params.FaceValue)
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return credited, nil
}

func (r *Recipient) receive(ctx context.Context, p Payment) (*big.Int, int, error) {
	if err := p.Params.Check(); err != nil {
		return nil, 0, paymentErrorf("%v", err)
	}
	if err := p.Expiration.Check(); err != nil {
		return nil, 0, paymentErrorf("%v", err)
	}
	if len(p.Tickets) > MaxTicketsPerPayment {
		return nil, 0, paymentErrorf("payment has %d tickets, the limit is %d", len(p.Tickets), MaxTicketsPerPayment)
	}
	if p.Params.Recipient != r.key.Address {
		return nil, 0, paymentErrorf("tickets are for %s, this orchestrator is %s", p.Params.Recipient, r.key.Address)
	}
	recipientRand := r.recipientRand(p.Sender, p.Params, p.Expiration)
	// Constant time: timing must not tell how much of a forged commitment
	// is right.
	if h := RandHash(recipientRand); subtle.ConstantTimeCompare(h[:], p.Params.RecipientRandHash[:]) != 1 {
		return nil, 0, staleErrorf("ticket params were not issued by %s to sender %s, or were altered", r.key.Address, p.Sender)
	}
	if p.Params.PricePerPixel.Cmp(r.price) < 0 {
		return nil, 0, staleErrorf("ticket params price %s wei/pixel is below the current price %s wei/pixel", p.Params.PricePerPixel, r.price)
	}
	block, err := r.broker.CurrentBlock(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("pm: current block: %w", err)
	}
	if p.Params.ExpirationBlock.Cmp(block) <= 0 {
		return nil, 0, staleErrorf("ticket params expired at block %s (now %s)", p.Params.ExpirationBlock, block)
	}
	round, err := r.broker.CurrentRound(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("pm: current round: %w", err)
	}
	if p.Expiration.CreationRound+TicketValidityRounds <= round.Number {
		return nil, 0, staleErrorf("tickets of round %d expired (the current round is %d)", p.Expiration.CreationRound, round.Number)
	}
	if len(p.Tickets) == 0 {
		return new(big.Int), 0, nil
	}
	seen := make(map[uint32]struct{}, len(p.Tickets))
	for i, ts := range p.Tickets {
		if _, dup := seen[ts.SenderNonce]; dup {
			return nil, 0, paymentErrorf("nonce %d appears twice in the payment", ts.SenderNonce)
		}
		seen[ts.SenderNonce] = struct{}{}
		if len(ts.Sig) != sign.SignatureLen || (ts.Sig[64] != 27 && ts.Sig[64] != 28) {
			return nil, 0, paymentErrorf("ticket nonce %d: signature must be 65 bytes with v = 27 or 28", ts.SenderNonce)
		}
		signer, err := p.Ticket(i).Signer(ts.Sig)
		if err != nil {
			return nil, 0, paymentErrorf("ticket nonce %d: %v", ts.SenderNonce, err)
		}
		if signer != p.Sender {
			return nil, 0, paymentErrorf("ticket nonce %d is signed by %s, not by sender %s", ts.SenderNonce, signer, p.Sender)
		}
	}
	r.mu.Lock()
	err = r.checkNonces(p)
	r.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	funds, err := r.broker.Sender(ctx, p.Sender)
	if err != nil {
		return nil, 0, fmt.Errorf("pm: sender funds: %w", err)
	}
	locked := new(big.Int)
	for _, v := range []*big.Int{funds.Deposit, funds.Reserve} {
		if v != nil {
			locked.Add(locked, v)
		}
	}
	if locked.Cmp(p.Params.FaceValue) < 0 {
		return nil, 0, paymentErrorf("sender %s has %s wei locked, a ticket needs %s", p.Sender, locked, p.Params.FaceValue)
	}

	ev := p.Params.EV()
	credited := new(big.Int).Mul(ev, big.NewInt(int64(len(p.Tickets))))
	var won []*winner
	for i, ts := range p.Tickets {
		if Wins(ts.Sig, recipientRand, p.Params.WinProb) {
			won = append(won, &winner{ticket: p.Ticket(i), sig: append([]byte(nil), ts.Sig...), rand: recipientRand})
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	// Checked again: a concurrent Receive of the same nonces may have won.
	if err := r.checkNonces(p); err != nil {
		return nil, 0, err
	}
	use := r.rands[p.Params.RecipientRandHash]
	if use == nil {
		use = &randUse{expires: new(big.Int).Set(p.Params.ExpirationBlock), nonces: make(map[uint32]struct{}, len(p.Tickets))}
		r.rands[p.Params.RecipientRandHash] = use
	}
	for _, ts := range p.Tickets {
		use.nonces[ts.SenderNonce] = struct{}{}
	}
	bal := r.balances[p.Sender]
	if bal == nil {
		bal = new(big.Int)
		r.balances[p.Sender] = bal
	}
	bal.Add(bal, credited)
	r.stats.Payments++
	r.stats.Tickets += uint64(len(p.Tickets))
	r.stats.Winners += uint64(len(won))
	r.stats.ValueCredited.Add(r.stats.ValueCredited, credited)
	r.queue = append(r.queue, won...)
	r.sweep(block)
	return credited, len(won), nil
}

// checkNonces reports a nonce already seen for the payment's parameters,
// or one too many. r.mu is held.
func (r *Recipient) checkNonces(p Payment) error {
	use := r.rands[p.Params.RecipientRandHash]
	if use == nil {
		if len(p.Tickets) > r.maxNonces {
			return staleErrorf("payment has %d tickets, one set of ticket params pays for at most %d", len(p.Tickets), r.maxNonces)
		}
		return nil
	}
	for _, ts := range p.Tickets {
		if _, ok := use.nonces[ts.SenderNonce]; ok {
			return paymentErrorf("ticket nonce %d was already received for recipientRandHash %s", ts.SenderNonce, p.Params.RecipientRandHash)
		}
	}
	if n := len(use.nonces) + len(p.Tickets); n > r.maxNonces {
		return staleErrorf("ticket params already paid for %d tickets, the limit is %d", len(use.nonces), r.maxNonces)
	}
	return nil
}

// sweep forgets the nonces of parameters that expired by block: Receive
// refuses those parameters anyway. It runs once per block. r.mu is held.
func (r *Recipient) sweep(block *big.Int) {
	if block.Cmp(r.sweptAt) <= 0 {
		return
	}
	r.sweptAt = new(big.Int).Set(block)
	for h, use := range r.rands {
		if use.expires.Cmp(block) <= 0 {
			delete(r.rands, h)
		}
	}
}

// Balance is the sender's credit in wei: the expected value of its
// accepted tickets less what Debit took. It may be negative.
func (r *Recipient) Balance(sender common.Address) *big.Int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.balances[sender]; b != nil {
		return new(big.Int).Set(b)
	}
	return new(big.Int)
}

// Debit charges the sender amount wei for work done. The work is done,
// so the charge always applies: the credit may go negative, and the
// sender must pay the deficit before Reserve passes again. Hold.Settle
// debits a reserved segment. A nil or
// negative amount is ignored.
func (r *Recipient) Debit(sender common.Address, amount *big.Int) {
	if amount == nil || amount.Sign() <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.debitLocked(sender, amount)
}

// debitLocked takes amount from the sender's credit. r.mu is held.
func (r *Recipient) debitLocked(sender common.Address, amount *big.Int) {
	bal := r.balances[sender]
	if bal == nil {
		bal = new(big.Int)
		r.balances[sender] = bal
	}
	bal.Sub(bal, amount)
}
