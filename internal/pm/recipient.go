package pm

import (
	"context"
	"crypto/rand"
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
	// Store keeps winning tickets until they are redeemed: Receive
	// commits a payment's winners to it before crediting the sender, and
	// NewRecipient queues the ones an earlier run left. castnet's nodes
	// always set it. Nil keeps winners in memory only, lost when the
	// process ends (NewRecipient logs a warning); for tests.
	Store WinnerStore
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
	store     WinnerStore
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

// NewRecipient checks the configuration, queues the winners the store
// holds from an earlier run and starts the redemption goroutine; Close
// stops it.
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
		store:     cfg.Store,
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
	if r.store == nil {
		r.log.Warn("winning tickets are kept in memory only: a restart loses those not yet redeemed")
	}
	if err := r.reload(); err != nil {
		return nil, err
	}
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
// then a *PaymentError (errors.Is ErrPayment). Winning tickets are
// committed to the store before the sender is credited and Receive
// returns; when that fails the payment is refused with ErrNotPersisted and
// nothing changes. Other errors are the broker's. A payment with no
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
	recipientRand, err := r.checkTerms(p)
	if err != nil {
		return nil, 0, err
	}
	block, err := r.checkExpiry(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	if len(p.Tickets) == 0 {
		return new(big.Int), 0, nil
	}
	if err := checkSignatures(p); err != nil {
		return nil, 0, err
	}
	r.mu.Lock()
	err = r.checkNonces(p) // before asking the broker; accept takes them for good
	r.mu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	if err := r.checkFunds(ctx, p); err != nil {
		return nil, 0, err
	}
	won := r.winners(p, recipientRand)
	credited, err := r.accept(ctx, p, won, block)
	if err != nil {
		return nil, 0, err
	}
	return credited, len(won), nil
}

// winners are the payment's winning tickets.
func (r *Recipient) winners(p Payment, recipientRand *big.Int) []*winner {
	var won []*winner
	for i, ts := range p.Tickets {
		if Wins(ts.Sig, recipientRand, p.Params.WinProb) {
			won = append(won, queued(Winner{Ticket: p.Ticket(i), Sig: append([]byte(nil), ts.Sig...), RecipientRand: recipientRand}))
		}
	}
	return won
}

// accept books a checked payment. Its nonces are taken under r.mu, so of
// two concurrent Receives of the same nonces one wins and the other is
// refused as a replay; its winners are then committed to the store
// without the lock (a disk sync must not stall every other payment); and
// only then is the sender credited. A failed commit gives the nonces back
// and changes nothing else: the same payment may be sent again.
func (r *Recipient) accept(ctx context.Context, p Payment, won []*winner, block *big.Int) (*big.Int, error) {
	r.mu.Lock()
	err := r.checkNonces(p) // again: a concurrent Receive of the same nonces may have won
	if err == nil {
		r.takeNonces(p)
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := r.persist(ctx, p.Sender, won); err != nil {
		r.mu.Lock()
		r.giveBackNonces(p)
		r.mu.Unlock()
		return nil, err
	}
	return r.credit(p, won, block), nil
}

// credit adds the payment's expected value to the sender's credit and
// queues its winners.
func (r *Recipient) credit(p Payment, won []*winner, block *big.Int) *big.Int {
	credited := new(big.Int).Mul(p.Params.EV(), big.NewInt(int64(len(p.Tickets))))
	r.mu.Lock()
	defer r.mu.Unlock()
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
	return credited
}

// takeNonces marks the payment's nonces seen. r.mu is held.
func (r *Recipient) takeNonces(p Payment) {
	use := r.rands[p.Params.RecipientRandHash]
	if use == nil {
		use = &randUse{expires: new(big.Int).Set(p.Params.ExpirationBlock), nonces: make(map[uint32]struct{}, len(p.Tickets))}
		r.rands[p.Params.RecipientRandHash] = use
	}
	for _, ts := range p.Tickets {
		use.nonces[ts.SenderNonce] = struct{}{}
	}
}

// giveBackNonces undoes takeNonces for a payment that was not accepted.
// r.mu is held.
func (r *Recipient) giveBackNonces(p Payment) {
	use := r.rands[p.Params.RecipientRandHash]
	if use == nil {
		return // swept meanwhile: the parameters expired
	}
	for _, ts := range p.Tickets {
		delete(use.nonces, ts.SenderNonce)
	}
	if len(use.nonces) == 0 {
		delete(r.rands, p.Params.RecipientRandHash)
	}
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
