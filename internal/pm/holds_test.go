package pm

import (
	"context"
	"fmt"
	"math/big"
	"testing"
)

// TestReserveHoldsCreditForSegmentsInFlight is issue 11's attack 4 on a
// paid orchestrator: one payment's credit admitted every segment sent at
// once, since Reserve only compared it with each one's need. Now each
// admitted segment holds its need until it settles or is released, so a
// credit admits as many segments at once as it pays for.
func TestReserveHoldsCreditForSegmentsInFlight(t *testing.T) {
	f := newFixture(t, nil)
	s := f.bcast.Address
	p, e := f.params(t)
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 4)); err != nil {
		t.Fatal(err)
	}
	ev := p.EV()
	evs := func(num, den int64) *big.Int { // num/den × EV
		v := new(big.Int).Mul(ev, big.NewInt(num))
		return v.Quo(v, big.NewInt(den))
	}
	need := evs(2, 1)
	first, err := f.rcpt.Reserve(s, need)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.rcpt.Reserve(s, need)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.rcpt.Reserve(s, need)
	wantRefused(t, err, fmt.Sprintf("credit %s wei, %s held for 2 segments in flight, this segment needs about %s wei",
		evs(4, 1), evs(4, 1), need))
	if h := f.rcpt.Held(s); h.Cmp(evs(4, 1)) != 0 {
		t.Fatalf("held %s", h)
	}
	// A segment cut off before its answer gives its hold back, once.
	first.Release()
	first.Release()
	first.Settle(ev)
	if bal := f.rcpt.Balance(s); bal.Cmp(evs(4, 1)) != 0 {
		t.Fatalf("a released hold was charged: balance %s", bal)
	}
	third, err := f.rcpt.Reserve(s, need)
	if err != nil {
		t.Fatalf("a released hold still counts: %v", err)
	}
	// An answered one is charged what it cost, and frees its hold.
	second.Settle(evs(3, 2))
	second.Settle(evs(3, 2))
	second.Release()
	if bal, h := f.rcpt.Balance(s), f.rcpt.Held(s); bal.Cmp(new(big.Int).Sub(evs(4, 1), evs(3, 2))) != 0 || h.Cmp(need) != 0 {
		t.Fatalf("balance %s held %s, want 2.5 EV and 2 EV", bal, h)
	}
	_, err = f.rcpt.Reserve(s, need)
	wantRefused(t, err, "held for 1 segments in flight")
	third.Release()
	var none *Hold
	none.Release()
	none.Settle(big.NewInt(1))
	if h := f.rcpt.Held(s); h.Sign() != 0 {
		t.Fatalf("held %s after every hold ended", h)
	}
}

// TestPayHeldPaysForEachSegmentInFlight: the sender's side of the holds.
// With Pay alone a second segment in flight found the credit the first
// one's tickets bought and paid nothing, which the recipient now refuses;
// PayHeld counts each segment in flight as spent until it is released.
func TestPayHeldPaysForEachSegmentInFlight(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	s, ctx := f.sender, context.Background()
	need := new(big.Int).Mul(p.EV(), big.NewInt(2))
	pay1, held1, err := s.PayHeld(ctx, p, e, need)
	if err != nil || len(pay1.Tickets) != 2 {
		t.Fatalf("%d tickets, %v", len(pay1.Tickets), err)
	}
	pay2, held2, err := s.PayHeld(ctx, p, e, need)
	if err != nil || len(pay2.Tickets) != 2 {
		t.Fatalf("the second segment in flight paid %d tickets, want 2 (%v)", len(pay2.Tickets), err)
	}
	for _, pay := range []Payment{pay1, pay2} {
		if _, err := f.rcpt.Receive(ctx, pay); err != nil {
			t.Fatal(err)
		}
		h, err := f.rcpt.Reserve(pay.Sender, need)
		if err != nil {
			t.Fatalf("the recipient refused a segment the sender paid for: %v", err)
		}
		defer h.Release()
	}
	held1.Release()
	held1.Release()
	// One segment ended unanswered: its credit is free for the next.
	pay3, held3, err := s.PayHeld(ctx, p, e, need)
	if err != nil || len(pay3.Tickets) != 0 {
		t.Fatalf("%d tickets, %v", len(pay3.Tickets), err)
	}
	held3.Release()
	s.Debited(p.Recipient, need)
	held2.Release()
	if c := s.Credit(p.Recipient); c.Cmp(need) != 0 {
		t.Fatalf("credit %s, want %s", c, need)
	}
	var none *Held
	none.Release()
}
