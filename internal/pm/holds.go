package pm

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// held is what a sender's segments in flight hold of its credit.
type held struct {
	amount   *big.Int
	segments int
}

// Hold is the credit a Recipient set aside for one segment in flight
// (Reserve). Settle charges the work done and frees the hold; Release frees
// it without a charge (the segment was refused or cut off). Only the first
// of them counts, and a nil Hold does nothing.
type Hold struct {
	r      *Recipient
	sender common.Address
	amount *big.Int
	ended  bool // guarded by r.mu
}

// Reserve holds need wei of the sender's credit for a segment about to be
// transcoded. It passes when the credit, less what the sender's segments
// already in flight hold, covers need: one payment admits as many
// segments at once as it pays for, not every one sent before the first is
// answered. The error is a *PaymentError.
func (r *Recipient) Reserve(sender common.Address, need *big.Int) (*Hold, error) {
	amount := new(big.Int)
	if need != nil && need.Sign() > 0 {
		amount.Set(need)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	bal, h := new(big.Int), r.held[sender]
	if b := r.balances[sender]; b != nil {
		bal.Set(b)
	}
	free := new(big.Int).Set(bal)
	if h != nil {
		free.Sub(free, h.amount)
	}
	switch {
	case h != nil && free.Cmp(amount) < 0:
		return nil, paymentErrorf("credit %s wei, %s held for %d segments in flight, this segment needs about %s wei",
			bal, h.amount, h.segments, amount)
	case free.Cmp(amount) < 0:
		return nil, paymentErrorf("credit %s wei, this segment needs about %s wei", bal, amount)
	}
	if h == nil {
		h = &held{amount: new(big.Int)}
		r.held[sender] = h
	}
	h.amount.Add(h.amount, amount)
	h.segments++
	return &Hold{r: r, sender: sender, amount: amount}, nil
}

// Held is the credit the sender's segments in flight hold, in wei.
func (r *Recipient) Held(sender common.Address) *big.Int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := r.held[sender]; h != nil {
		return new(big.Int).Set(h.amount)
	}
	return new(big.Int)
}

// Settle charges cost wei for the segment's work (see Debit) and frees
// the hold, in one step so the credit is never counted twice.
func (h *Hold) Settle(cost *big.Int) {
	if h == nil {
		return
	}
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	if h.endLocked() && cost != nil && cost.Sign() > 0 {
		h.r.debitLocked(h.sender, cost)
	}
}

// Release frees the hold with no charge.
func (h *Hold) Release() {
	if h == nil {
		return
	}
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	h.endLocked()
}

// endLocked gives the hold back the first time; r.mu is held.
func (h *Hold) endLocked() bool {
	if h.ended {
		return false
	}
	h.ended = true
	rh := h.r.held[h.sender]
	rh.amount.Sub(rh.amount, h.amount)
	if rh.segments--; rh.segments == 0 {
		delete(h.r.held, h.sender)
	}
	return true
}

// Held is the credit a Sender holds at a recipient for one segment in
// flight (PayHeld). Release gives it back; only the first call counts,
// and a nil Held does nothing.
type Held struct {
	s         *Sender
	recipient common.Address
	amount    *big.Int
	ended     bool // guarded by s.mu
}

// holdLocked holds need at recipient. s.mu is held.
func (s *Sender) holdLocked(recipient common.Address, need *big.Int) *Held {
	amount := new(big.Int)
	if need != nil && need.Sign() > 0 {
		amount.Set(need)
	}
	h := s.held[recipient]
	if h == nil {
		h = new(big.Int)
		s.held[recipient] = h
	}
	h.Add(h, amount)
	return &Held{s: s, recipient: recipient, amount: amount}
}

// heldLocked is what segments in flight hold at recipient. s.mu is held.
func (s *Sender) heldLocked(recipient common.Address) *big.Int {
	if h := s.held[recipient]; h != nil {
		return h
	}
	return new(big.Int)
}

// Release gives the held credit back.
func (h *Held) Release() {
	if h == nil {
		return
	}
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.ended {
		return
	}
	h.ended = true
	total := h.s.held[h.recipient]
	if total.Sub(total, h.amount); total.Sign() <= 0 {
		delete(h.s.held, h.recipient)
	}
}
