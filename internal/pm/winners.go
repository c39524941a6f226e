package pm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// ErrNotPersisted means the winning tickets of a payment could not be
// committed to the recipient's WinnerStore, so the payment was refused:
// nothing is acknowledged that a crash could lose. It is the store's
// failure, not the sender's: paying again may succeed.
var ErrNotPersisted = errors.New("pm: winning tickets could not be stored, so the payment is not accepted")

// storeTimeout bounds one store call the redemption goroutine makes on
// its own (Pending, Done, recording an attempt), so Close never waits on a
// stuck disk for long.
const storeTimeout = 10 * time.Second

// Winner is a winning ticket as a WinnerStore keeps it: everything a
// broker needs to redeem it, and how many redemptions of it failed.
type Winner struct {
	Ticket        Ticket
	Sig           []byte
	RecipientRand *big.Int
	// Attempts counts the redemptions that failed for a transient
	// reason, over every run of the recipient.
	Attempts int
}

// WinnerStore keeps a recipient's winning tickets from the moment a
// payment is accepted until they are redeemed or refused for good, so a
// restart or a crash loses none. Winners are keyed by ticket hash.
type WinnerStore interface {
	// Add commits winners durably before it returns nil. Adding a winner
	// already stored changes nothing but its Attempts, which only grows:
	// re-adding is idempotent, and records a failed attempt.
	Add(ctx context.Context, ws []Winner) error
	// Done forgets the winner with this ticket hash: it was redeemed, or
	// the broker refused it for good. An unknown hash is not an error.
	Done(ctx context.Context, ticketHash common.Hash) error
	// Pending lists the winners not Done, oldest first.
	Pending(ctx context.Context) ([]Winner, error)
}

// winner is a winning ticket in the redemption queue.
type winner struct {
	Winner
	hash  common.Hash
	tries int       // failed attempts in this run; it gives up at RedeemAttempts
	next  time.Time // not before
}

// queued makes w a queue entry.
func queued(w Winner) *winner { return &winner{Winner: w, hash: w.Ticket.Hash()} }

// persist commits a payment's winners before it is acknowledged. With no
// store or no winner there is nothing to write.
func (r *Recipient) persist(ctx context.Context, sender common.Address, won []*winner) error {
	if r.store == nil || len(won) == 0 {
		return nil
	}
	ws := make([]Winner, len(won))
	for i, w := range won {
		ws[i] = w.Winner
	}
	if err := r.store.Add(ctx, ws); err != nil {
		r.storeFailed()
		r.log.Error("refusing a payment: its winning tickets could not be stored", "sender", sender, "count", len(ws), "err", err)
		return fmt.Errorf("%w: %w", ErrNotPersisted, err)
	}
	return nil
}

// reload queues the winners an earlier run left in the store.
func (r *Recipient) reload() error {
	if r.store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	ws, err := r.store.Pending(ctx)
	if err != nil {
		return fmt.Errorf("pm: loading the winning tickets of an earlier run: %w", err)
	}
	face, others := new(big.Int), 0
	for _, w := range ws {
		r.queue = append(r.queue, queued(w))
		face.Add(face, w.Ticket.FaceValue)
		if w.Ticket.Recipient != r.key.Address {
			others++ // the broker pays the ticket's recipient, whoever redeems it
		}
	}
	r.stats.Reloaded = uint64(len(ws))
	if len(ws) > 0 {
		r.log.Info("winning tickets from an earlier run queued for redemption", "count", len(ws),
			"faceValue", face, "forOtherAddresses", others)
	}
	return nil
}

// forget tells the store a winner is settled. If that fails the row stays,
// and the next start sends it to the broker again, which refuses a second
// redemption for good (ErrTicketUsed): harmless.
func (r *Recipient) forget(w *winner) {
	if r.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := r.store.Done(ctx, w.hash); err != nil {
		r.storeFailed()
		r.log.Error("could not mark a settled winning ticket done; the next start offers it to the broker again",
			"ticketHash", w.hash, "err", err)
	}
}

// recordAttempt stores a winner's count of failed attempts. Failing only
// costs the count: the winner itself is stored already.
func (r *Recipient) recordAttempt(w *winner) {
	if r.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := r.store.Add(ctx, []Winner{w.Winner}); err != nil {
		r.storeFailed()
		r.log.Warn("could not record a failed redemption attempt", "ticketHash", w.hash, "err", err)
	}
}

func (r *Recipient) storeFailed() {
	r.mu.Lock()
	r.stats.StoreErrors++
	r.mu.Unlock()
}
