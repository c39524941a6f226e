package pm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"
)

// RecipientStats counts a recipient's payments and redemptions. In JSON,
// wei amounts are decimal strings.
type RecipientStats struct {
	// Payments and Tickets count accepted payments and their tickets.
	Payments uint64 `json:"payments"`
	Tickets  uint64 `json:"tickets"`
	// PaymentsRefused counts payments refused with a *PaymentError.
	PaymentsRefused uint64 `json:"paymentsRefused"`
	// Winners counts winning tickets received, and Reloaded those an
	// earlier run left in the store; each ends up Redeemed, RedeemFailed
	// or RedeemPending. RedeemFailed counts the winners this run gave up
	// on: refused for good by the broker (and forgotten), or failing
	// RedeemAttempts times (kept in the store for the next start).
	Winners       uint64 `json:"winners"`
	Reloaded      uint64 `json:"reloaded"`
	Redeemed      uint64 `json:"redeemed"`
	RedeemFailed  uint64 `json:"redeemFailed"`
	RedeemPending int    `json:"redeemPending"`
	// StoreErrors counts failed writes to the winner store: payments
	// refused for it (ErrNotPersisted), settled winners not marked done,
	// failed attempts not recorded.
	StoreErrors uint64 `json:"storeErrors"`
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

// Close stops the redemption goroutine and waits for it. Winners not yet
// redeemed stay in the store for the next start (without a store they are
// lost); Close logs how many. Receive still works after Close while the
// store does: its winners are stored and wait for the next start.
func (r *Recipient) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		r.mu.Lock()
		n, face := len(r.queue), new(big.Int)
		for _, w := range r.queue {
			face.Add(face, w.Ticket.FaceValue)
		}
		r.mu.Unlock()
		switch {
		case n == 0:
		case r.store != nil:
			r.log.Info("closing with winning tickets not yet redeemed: they stay in the store for the next start", "count", n, "faceValue", face)
		default:
			r.log.Warn("closing with winning tickets not redeemed: they are lost", "count", n, "faceValue", face)
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
// transient failure puts it back in the queue with a later due time. A
// settled winner leaves the store before it is counted.
func (r *Recipient) redeem(ctx context.Context, w *winner) {
	t := w.Ticket
	log := r.log.With("sender", t.Sender, "nonce", t.SenderNonce, "recipientRandHash", t.RecipientRandHash, "faceValue", t.FaceValue)
	paid, err := r.broker.Redeem(ctx, t, w.Sig, w.RecipientRand)
	switch {
	case err == nil:
		r.forget(w)
		if paid == nil {
			paid = new(big.Int)
		}
		r.mu.Lock()
		r.stats.Redeemed++
		r.stats.ValueRedeemed.Add(r.stats.ValueRedeemed, paid)
		r.mu.Unlock()
		log.Info("winning ticket redeemed", "paid", paid)
	case ctx.Err() != nil:
		r.requeue(w) // closing: Close reports it
	case permanent(err):
		r.forget(w)
		r.failed()
		log.Warn("dropping winning ticket the broker refused", "err", err)
	default:
		r.retry(w, err, log)
	}
}

// retry books a transient failure: the winner is tried again after a
// backoff, or given up in this run after its attempts. A given-up winner
// stays in the store, so the next start tries it again until the broker
// refuses it for good (it expires TicketValidityRounds after its round).
func (r *Recipient) retry(w *winner, err error, log *slog.Logger) {
	w.Attempts++
	w.tries++
	r.recordAttempt(w)
	if w.tries >= r.attempts {
		r.failed()
		msg := "giving up on winning ticket"
		if r.store != nil {
			msg += " until the next start; it stays in the store"
		}
		log.Error(msg, "attempts", w.Attempts, "err", err)
		return
	}
	delay := r.backoff << (w.tries - 1)
	if delay > maxRedeemBackoff || delay <= 0 {
		delay = maxRedeemBackoff
	}
	w.next = time.Now().Add(delay)
	r.requeue(w)
	log.Warn("redeeming winning ticket failed, will retry", "attempt", w.Attempts, "retryIn", delay, "err", fmt.Sprint(err))
}

func (r *Recipient) requeue(w *winner) {
	r.mu.Lock()
	r.queue = append(r.queue, w)
	r.mu.Unlock()
}

func (r *Recipient) failed() {
	r.mu.Lock()
	r.stats.RedeemFailed++
	r.mu.Unlock()
}
