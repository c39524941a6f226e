package pm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
)

// DefaultMaxTicketEV is the largest expected value of one ticket a sender
// accepts by default, in wei (go-livepeer's default, 3000 gwei). It stops
// an orchestrator from asking for one ticket worth a whole deposit.
const DefaultMaxTicketEV = 3_000_000_000_000

// SenderConfig configures a Sender. Zero fields take the defaults.
type SenderConfig struct {
	// Key is the broadcaster's identity; it signs the tickets.
	Key sign.Key
	// Broker tells the block, the round and the sender's own funds.
	Broker Broker
	// MaxPricePerPixel refuses orchestrators asking more, in wei per
	// pixel; nil accepts any price.
	MaxPricePerPixel *big.Int
	// MaxTicketEV refuses parameters whose tickets are worth more, in
	// wei; default DefaultMaxTicketEV.
	MaxTicketEV *big.Int
	// MaxTicketsPerPayment caps the tickets of one payment; default and
	// at most MaxTicketsPerPayment.
	MaxTicketsPerPayment int
	// MaxNoncesPerRand is how many tickets the sender writes with one
	// set of parameters before asking for new ones; default
	// DefaultMaxNoncesPerRand, the recipient's limit.
	MaxNoncesPerRand int
	// Log receives payments made; nil discards.
	Log *slog.Logger
}

// Sender is the broadcaster's side of payments: it writes the tickets
// that keep its credit at each orchestrator ahead of the work it asks
// for. Its view of a credit is the expected value it sent less what
// Debited recorded, the same sum the orchestrator keeps. Its methods are
// safe for concurrent use.
type Sender struct {
	key        sign.Key
	broker     Broker
	maxPrice   *big.Int
	maxEV      *big.Int
	maxTickets int
	maxNonces  int
	log        *slog.Logger

	mu      sync.Mutex
	credit  map[common.Address]*big.Int
	held    map[common.Address]*big.Int // by PayHeld, for segments in flight
	nonces  map[common.Hash]*senderNonces
	sweptAt *big.Int
}

// senderNonces is the last nonce written with one set of parameters.
type senderNonces struct {
	last    uint32
	expires *big.Int
}

// NewSender checks the configuration.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Key.Private == nil || cfg.Key.Address == (common.Address{}) {
		return nil, errors.New("pm: sender needs a key")
	}
	if cfg.Broker == nil {
		return nil, errors.New("pm: sender needs a broker")
	}
	s := &Sender{
		key:        cfg.Key,
		broker:     cfg.Broker,
		maxTickets: cfg.MaxTicketsPerPayment,
		maxNonces:  cfg.MaxNoncesPerRand,
		log:        cfg.Log,
		credit:     make(map[common.Address]*big.Int),
		held:       make(map[common.Address]*big.Int),
		nonces:     make(map[common.Hash]*senderNonces),
		sweptAt:    new(big.Int),
	}
	if cfg.MaxPricePerPixel != nil {
		s.maxPrice = new(big.Int).Set(cfg.MaxPricePerPixel)
	}
	s.maxEV = big.NewInt(DefaultMaxTicketEV)
	if cfg.MaxTicketEV != nil {
		s.maxEV = new(big.Int).Set(cfg.MaxTicketEV)
	}
	if s.maxTickets <= 0 || s.maxTickets > MaxTicketsPerPayment {
		s.maxTickets = MaxTicketsPerPayment
	}
	if s.maxNonces <= 0 {
		s.maxNonces = DefaultMaxNoncesPerRand
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Address is the sender's address.
func (s *Sender) Address() common.Address { return s.key.Address }

// Pay writes a payment to the orchestrator params name that brings the
// sender's free credit there (its credit less what PayHeld holds for
// segments in flight) to need wei, the estimated cost of the next
// segment: ceil((need − free) / EV) tickets, none when the credit covers
// need, at most MaxTicketsPerPayment (the payment then covers less than
// need). It refuses parameters that ask more than MaxPricePerPixel or
// MaxTicketEV, whose face value exceeds the sender's deposit plus
// reserve, or that are stale (expired by block or round, or out of
// nonces): those errors match ErrStaleParams and call for new parameters
// from the orchestrator. The credit counts the tickets as soon as Pay
// returns; see Refused.
func (s *Sender) Pay(ctx context.Context, params TicketParams, exp ExpirationParams, need *big.Int) (Payment, error) {
	p, _, err := s.pay(ctx, params, exp, need, false)
	return p, err
}

// PayHeld is Pay for a segment about to be sent, which also holds need of
// the credit for it until the returned Held is released (once the segment
// is answered and Debited, refused or given up). Segments in flight at
// once then each pay for themselves, as the recipient holds back credit
// for each segment it admits (Recipient.Reserve).
func (s *Sender) PayHeld(ctx context.Context, params TicketParams, exp ExpirationParams, need *big.Int) (Payment, *Held, error) {
	return s.pay(ctx, params, exp, need, true)
}

func (s *Sender) pay(ctx context.Context, params TicketParams, exp ExpirationParams, need *big.Int, hold bool) (Payment, *Held, error) {
	block, err := s.checkParams(ctx, params, exp)
	if err != nil {
		return Payment{}, nil, err
	}
	ev := params.EV()
	p := Payment{Sender: s.key.Address, Params: params, Expiration: exp}
	h, err := s.take(&p, block, ev, need, hold)
	if err != nil {
		return Payment{}, nil, err
	}
	for i := range p.Tickets {
		sig, err := p.Ticket(i).Sign(s.key)
		if err != nil {
			s.Refused(p)
			h.Release()
			return Payment{}, nil, fmt.Errorf("pm: signing a ticket: %w", err)
		}
		p.Tickets[i].Sig = sig
	}
	if len(p.Tickets) > 0 {
		s.log.Debug("payment made", "recipient", params.Recipient, "tickets", len(p.Tickets), "ev", ev, "need", need)
	}
	return p, h, nil
}

// checkParams refuses parameters the sender will not pay with, and
// returns the current block.
func (s *Sender) checkParams(ctx context.Context, params TicketParams, exp ExpirationParams) (*big.Int, error) {
	if err := params.Check(); err != nil {
		return nil, fmt.Errorf("pm: ticket params: %w", err)
	}
	if err := exp.Check(); err != nil {
		return nil, fmt.Errorf("pm: expiration params: %w", err)
	}
	if params.FaceValue.Sign() == 0 {
		return nil, fmt.Errorf("pm: orchestrator %s offers tickets of face value 0", params.Recipient)
	}
	if s.maxPrice != nil && params.PricePerPixel.Cmp(s.maxPrice) > 0 {
		return nil, fmt.Errorf("pm: orchestrator %s asks %s wei/pixel, max is %s", params.Recipient, params.PricePerPixel, s.maxPrice)
	}
	if ev := params.EV(); ev.Cmp(s.maxEV) > 0 {
		return nil, fmt.Errorf("pm: orchestrator %s wants tickets worth %s wei each, max is %s", params.Recipient, ev, s.maxEV)
	}
	block, err := s.broker.CurrentBlock(ctx)
	if err != nil {
		return nil, fmt.Errorf("pm: current block: %w", err)
	}
	if block.Cmp(params.ExpirationBlock) >= 0 {
		return nil, fmt.Errorf("pm: ticket params of %s expired at block %s (now %s): %w", params.Recipient, params.ExpirationBlock, block, ErrStaleParams)
	}
	round, err := s.broker.CurrentRound(ctx)
	if err != nil {
		return nil, fmt.Errorf("pm: current round: %w", err)
	}
	if exp.CreationRound+TicketValidityRounds <= round.Number {
		return nil, fmt.Errorf("pm: ticket params of %s are for round %d, now %d: %w", params.Recipient, exp.CreationRound, round.Number, ErrStaleParams)
	}
	return block, s.checkFunds(ctx, params)
}

// checkFunds refuses tickets whose face value the sender's deposit and
// reserve do not cover.
func (s *Sender) checkFunds(ctx context.Context, params TicketParams) error {
	funds, err := s.broker.Sender(ctx, s.key.Address)
	if err != nil {
		return fmt.Errorf("pm: own funds: %w", err)
	}
	locked := new(big.Int)
	for _, v := range []*big.Int{funds.Deposit, funds.Reserve} {
		if v != nil {
			locked.Add(locked, v)
		}
	}
	if params.FaceValue.Cmp(locked) > 0 {
		return fmt.Errorf("pm: orchestrator %s wants tickets of face value %s wei, %s has only %s wei locked", params.Recipient, params.FaceValue, s.key.Address, locked)
	}
	return nil
}

// take decides the payment's tickets and their nonces, counts them in the
// credit and, with hold, holds need: under one lock, so that a concurrent
// payment does not pay the same need.
func (s *Sender) take(p *Payment, block, ev, need *big.Int, hold bool) (*Held, error) {
	recipient := p.Params.Recipient
	s.mu.Lock()
	defer s.mu.Unlock()
	free := new(big.Int).Sub(s.creditLocked(recipient), s.heldLocked(recipient))
	n, err := ticketsFor(need, free, ev, s.maxTickets)
	if err != nil {
		return nil, fmt.Errorf("pm: orchestrator %s: %w", recipient, err)
	}
	if n > 0 {
		s.sweep(block)
		ns := s.nonces[p.Params.RecipientRandHash]
		if ns == nil {
			ns = &senderNonces{expires: new(big.Int).Set(p.Params.ExpirationBlock)}
			s.nonces[p.Params.RecipientRandHash] = ns
		}
		if uint64(ns.last)+uint64(n) > uint64(s.maxNonces) || uint64(ns.last)+uint64(n) > math.MaxUint32 {
			return nil, fmt.Errorf("pm: ticket params of %s paid for %d tickets already: %w", recipient, ns.last, ErrStaleParams)
		}
		p.Tickets = make([]TicketSig, n)
		for i := range p.Tickets {
			ns.last++
			p.Tickets[i].SenderNonce = ns.last
		}
		c := s.creditLocked(recipient)
		c.Add(c, new(big.Int).Mul(ev, big.NewInt(int64(n))))
	}
	if !hold {
		return nil, nil
	}
	return s.holdLocked(recipient, need), nil
}

// ticketsFor is how many tickets of value ev bring credit to need, at
// most limit.
func ticketsFor(need, credit, ev *big.Int, limit int) (int, error) {
	if need == nil || credit.Cmp(need) >= 0 {
		return 0, nil
	}
	if ev.Sign() <= 0 {
		return 0, errors.New("its tickets have no expected value, they cannot pay")
	}
	short := new(big.Int).Sub(need, credit)
	n := new(big.Int).Add(short, new(big.Int).Sub(ev, big.NewInt(1)))
	n.Quo(n, ev)
	if !n.IsInt64() || n.Int64() > int64(limit) {
		return limit, nil
	}
	return int(n.Int64()), nil
}

// sweep forgets nonces of parameters that expired by block, once per
// block. s.mu is held.
func (s *Sender) sweep(block *big.Int) {
	if block.Cmp(s.sweptAt) <= 0 {
		return
	}
	s.sweptAt = new(big.Int).Set(block)
	for h, ns := range s.nonces {
		if ns.expires.Cmp(block) <= 0 {
			delete(s.nonces, h)
		}
	}
}

// creditLocked is the credit entry of recipient, made on first use.
// s.mu is held.
func (s *Sender) creditLocked(recipient common.Address) *big.Int {
	c := s.credit[recipient]
	if c == nil {
		c = new(big.Int)
		s.credit[recipient] = c
	}
	return c
}

// Credit is what the sender believes its credit at recipient is, in wei:
// the expected value of the tickets it sent less what Debited recorded.
func (s *Sender) Credit(recipient common.Address) *big.Int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return new(big.Int).Set(s.creditLocked(recipient))
}

// Debited records amount wei of work the recipient billed (from its
// receipts). A nil or negative amount is ignored.
func (s *Sender) Debited(recipient common.Address, amount *big.Int) {
	if amount == nil || amount.Sign() <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.creditLocked(recipient)
	c.Sub(c, amount)
}

// Refused takes back the credit Pay counted for p: call it when the
// orchestrator refused the payment (HTTP 402) or never got it. The
// payment's nonces stay used.
func (s *Sender) Refused(p Payment) {
	if len(p.Tickets) == 0 {
		return
	}
	ev := new(big.Int).Mul(p.Params.EV(), big.NewInt(int64(len(p.Tickets))))
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.creditLocked(p.Params.Recipient)
	c.Sub(c, ev)
}

// SetCredit replaces the sender's view of its credit at recipient, for
// example with the balance the orchestrator reports.
func (s *Sender) SetCredit(recipient common.Address, credit *big.Int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := new(big.Int)
	if credit != nil {
		c.Set(credit)
	}
	s.credit[recipient] = c
}
