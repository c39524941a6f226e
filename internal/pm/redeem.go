package pm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// winner is a winning ticket waiting for redemption.
type winner struct {
	ticket   Ticket
	sig      []byte
	rand     *big.Int
	attempts int       // failed attempts so far
	next     time.Time // not before
}

// RecipientStats counts a recipient's payments and redemptions. In JSON,
// wei amounts are decimal strings.
type RecipientStats struct {
	// Payments and Tickets count accepted payments and their tickets.
	Payments uint64 `json:"payments"`
	Tickets  uint64 `json:"tickets"`
	// PaymentsRefused counts payments refused with a *PaymentError.
	PaymentsRefused uint64 `json:"paymentsRefused"`
	// Winners counts winning tickets received; each ends up Redeemed,
	// RedeemFailed or RedeemPending.
	Winners       uint64 `json:"winners"`
	Redeemed      uint64 `json:"redeemed"`
	RedeemFailed  uint64 `json:"redeemFailed"`
	RedeemPending int    `json:"redeemPending"`
	// ValueCredited is the expected value credited to senders, in wei.
	ValueCredited *big.Int `json:"-"`
	// ValueRedeemed is what the broker paid for redeemed winners, in wei.
	ValueRedeemed *big.Int `json:"-"`
}

// MarshalJSON writes the stats with wei amounts as decimal strings.
func (s RecipientStats) MarshalJSON() ([]byte, error) {
	type plain RecipientStats
	dec := func(v *big.Int) string {
		if v == nil {
			return "0"
		}
		return v.String()
	}
	return json.Marshal(struct {
		plain
		ValueCredited string `json:"valueCredited"`
		ValueRedeemed string `json:"valueRedeemed"`
	}{plain(s), dec(s.ValueCredited), dec(s.ValueRedeemed)})
}

// Stats returns the recipient's counters.
func (r *Recipient) Stats() RecipientStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.RedeemPending = len(r.queue)
	s.ValueCredited = new(big.Int).Set(r.stats.ValueCredited)
	s.ValueRedeemed = new(big.Int).Set(r.stats.ValueRedeemed)
	return s
}

// Close stops the redemption goroutine and waits for it. Winners still
// queued are lost (they are logged); Receive still works after Close but
// queues winners nobody redeems.
func (r *Recipient) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		r.mu.Lock()
		n, face := len(r.queue), new(big.Int)
		for _, w := range r.queue {
			face.Add(face, w.ticket.FaceValue)
		}
		r.mu.Unlock()
		if n > 0 {
			r.log.Warn("closing with winning tickets not redeemed", "count", n, "faceValue", face)
		}
	})
	return nil
}

// permanent reports broker errors that retrying cannot fix.
func permanent(err error) bool {
	for _, p := range []error{ErrTicketUsed, ErrTicketExpired, ErrNotWinning, ErrWrongSigner, ErrBadRound, ErrTicket} {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}

// redeemLoop redeems queued winners, earliest due first, until ctx ends.
func (r *Recipient) redeemLoop(ctx context.Context) {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		w, wait := r.nextWinner(time.Now())
		if w != nil {
			r.redeem(ctx, w)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick:
		}
		timer.Stop()
	}
}

// nextWinner takes the first winner due at now out of the queue, or
// says how long until one is due (0: the queue is empty).
func (r *Recipient) nextWinner(now time.Time) (*winner, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := -1
	for i, w := range r.queue {
		if best < 0 || w.next.Before(r.queue[best].next) {
			best = i
		}
	}
	if best < 0 {
		return nil, 0
	}
	w := r.queue[best]
	if wait := w.next.Sub(now); wait > 0 {
		return nil, wait
	}
	r.queue = append(r.queue[:best], r.queue[best+1:]...)
	return w, 0
}

// redeem sends one winner to the broker and books the outcome; a
// transient failure puts it back in the queue with a later due time.
func (r *Recipient) redeem(ctx context.Context, w *winner) {
	t := w.ticket
	log := r.log.With("sender", t.Sender, "nonce", t.SenderNonce, "recipientRandHash", t.RecipientRandHash, "faceValue", t.FaceValue)
	paid, err := r.broker.Redeem(ctx, t, w.sig, w.rand)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		if paid == nil {
			paid = new(big.Int)
		}
		r.stats.Redeemed++
		r.stats.ValueRedeemed.Add(r.stats.ValueRedeemed, paid)
		log.Info("winning ticket redeemed", "paid", paid)
	case ctx.Err() != nil:
		r.queue = append(r.queue, w) // closing: Close reports it
	case permanent(err):
		r.stats.RedeemFailed++
		log.Warn("dropping winning ticket the broker refused", "err", err)
	default:
		w.attempts++
		if w.attempts >= r.attempts {
			r.stats.RedeemFailed++
			log.Error("giving up on winning ticket", "attempts", w.attempts, "err", err)
			return
		}
		delay := r.backoff << (w.attempts - 1)
		if delay > maxRedeemBackoff || delay <= 0 {
			delay = maxRedeemBackoff
		}
		w.next = time.Now().Add(delay)
		r.queue = append(r.queue, w)
		log.Warn("redeeming winning ticket failed, will retry", "attempt", w.attempts, "retryIn", delay, "err", fmt.Sprint(err))
	}
}
