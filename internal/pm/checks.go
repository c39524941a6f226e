package pm

import (
	"context"
	"crypto/subtle"
	"fmt"
	"math/big"

	"github.com/castnet/castnet/internal/sign"
)

// The rules Receive checks a payment against, in its order. A payment
// that breaks one is refused with a *PaymentError; a broker that cannot
// answer fails the payment with its own error.

// checkTerms checks what needs no broker: the numbers, the recipient, the
// parameters' commitment and price. It returns the recipientRand.
func (r *Recipient) checkTerms(p Payment) (*big.Int, error) {
	if err := p.Params.Check(); err != nil {
		return nil, paymentErrorf("%v", err)
	}
	if err := p.Expiration.Check(); err != nil {
		return nil, paymentErrorf("%v", err)
	}
	if len(p.Tickets) > MaxTicketsPerPayment {
		return nil, paymentErrorf("payment has %d tickets, the limit is %d", len(p.Tickets), MaxTicketsPerPayment)
	}
	if p.Params.Recipient != r.key.Address {
		return nil, paymentErrorf("tickets are for %s, this orchestrator is %s", p.Params.Recipient, r.key.Address)
	}
	recipientRand := r.recipientRand(p.Sender, p.Params, p.Expiration)
	// Constant time: timing must not tell how much of a forged commitment
	// is right.
	if h := RandHash(recipientRand); subtle.ConstantTimeCompare(h[:], p.Params.RecipientRandHash[:]) != 1 {
		return nil, staleErrorf("ticket params were not issued by %s to sender %s, or were altered", r.key.Address, p.Sender)
	}
	if p.Params.PricePerPixel.Cmp(r.price) < 0 {
		return nil, staleErrorf("ticket params price %s wei/pixel is below the current price %s wei/pixel", p.Params.PricePerPixel, r.price)
	}
	return recipientRand, nil
}

// checkExpiry refuses parameters expired by block or by round, and
// returns the current block.
func (r *Recipient) checkExpiry(ctx context.Context, p Payment) (*big.Int, error) {
	block, err := r.broker.CurrentBlock(ctx)
	if err != nil {
		return nil, fmt.Errorf("pm: current block: %w", err)
	}
	if p.Params.ExpirationBlock.Cmp(block) <= 0 {
		return nil, staleErrorf("ticket params expired at block %s (now %s)", p.Params.ExpirationBlock, block)
	}
	round, err := r.broker.CurrentRound(ctx)
	if err != nil {
		return nil, fmt.Errorf("pm: current round: %w", err)
	}
	if p.Expiration.CreationRound+TicketValidityRounds <= round.Number {
		return nil, staleErrorf("tickets of round %d expired (the current round is %d)", p.Expiration.CreationRound, round.Number)
	}
	return block, nil
}

// checkSignatures refuses a nonce twice in the payment and any ticket not
// signed by the sender.
func checkSignatures(p Payment) error {
	seen := make(map[uint32]struct{}, len(p.Tickets))
	for i, ts := range p.Tickets {
		if _, dup := seen[ts.SenderNonce]; dup {
			return paymentErrorf("nonce %d appears twice in the payment", ts.SenderNonce)
		}
		seen[ts.SenderNonce] = struct{}{}
		if len(ts.Sig) != sign.SignatureLen || (ts.Sig[64] != 27 && ts.Sig[64] != 28) {
			return paymentErrorf("ticket nonce %d: signature must be 65 bytes with v = 27 or 28", ts.SenderNonce)
		}
		signer, err := p.Ticket(i).Signer(ts.Sig)
		if err != nil {
			return paymentErrorf("ticket nonce %d: %v", ts.SenderNonce, err)
		}
		if signer != p.Sender {
			return paymentErrorf("ticket nonce %d is signed by %s, not by sender %s", ts.SenderNonce, signer, p.Sender)
		}
	}
	return nil
}

// checkFunds refuses a sender with less than the face value locked.
func (r *Recipient) checkFunds(ctx context.Context, p Payment) error {
	funds, err := r.broker.Sender(ctx, p.Sender)
	if err != nil {
		return fmt.Errorf("pm: sender funds: %w", err)
	}
	locked := new(big.Int)
	for _, v := range []*big.Int{funds.Deposit, funds.Reserve} {
		if v != nil {
			locked.Add(locked, v)
		}
	}
	if locked.Cmp(p.Params.FaceValue) < 0 {
		return paymentErrorf("sender %s has %s wei locked, a ticket needs %s", p.Sender, locked, p.Params.FaceValue)
	}
	return nil
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
