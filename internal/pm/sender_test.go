package pm

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
)

func nonces(p Payment) []uint32 {
	out := make([]uint32, len(p.Tickets))
	for i, t := range p.Tickets {
		out[i] = t.SenderNonce
	}
	return out
}

func TestSenderPaysWhatIsNeeded(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	ev := p.EV()
	s := f.sender
	ctx := context.Background()
	evs := func(num, den int64) *big.Int { // num/den × EV
		v := new(big.Int).Mul(ev, big.NewInt(num))
		return v.Quo(v, big.NewInt(den))
	}

	pay, err := s.Pay(ctx, p, e, evs(5, 2)) // 2.5 EV → 3 tickets
	if err != nil {
		t.Fatal(err)
	}
	if got := nonces(pay); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("nonces %v", got)
	}
	if s.Credit(p.Recipient).Cmp(evs(3, 1)) != 0 {
		t.Fatalf("credit %s", s.Credit(p.Recipient))
	}
	if _, err := f.rcpt.Receive(ctx, pay); err != nil {
		t.Fatal(err)
	}
	// The credit covers the next need: no ticket, still a valid payment.
	pay, err = s.Pay(ctx, p, e, evs(5, 2))
	if err != nil || len(pay.Tickets) != 0 {
		t.Fatalf("%d tickets, %v", len(pay.Tickets), err)
	}
	if _, err := f.rcpt.Receive(ctx, pay); err != nil {
		t.Fatal(err)
	}
	// Work billed: 2.5 EV debited on both sides, 0.5 EV left.
	s.Debited(p.Recipient, evs(5, 2))
	f.rcpt.Debit(pay.Sender, evs(5, 2))
	if s.Credit(p.Recipient).Cmp(f.rcpt.Balance(pay.Sender)) != 0 {
		t.Fatalf("sender sees %s, recipient has %s", s.Credit(p.Recipient), f.rcpt.Balance(pay.Sender))
	}
	pay, err = s.Pay(ctx, p, e, evs(5, 2)) // 2.5 − 0.5 = 2 EV short → 2 tickets
	if err != nil {
		t.Fatal(err)
	}
	if got := nonces(pay); len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("nonces %v", got)
	}
	if _, err := f.rcpt.Receive(ctx, pay); err != nil {
		t.Fatal(err)
	}
	// A huge need is capped at the ticket limit.
	pay, err = s.Pay(ctx, p, e, evs(1000, 1))
	if err != nil || len(pay.Tickets) != MaxTicketsPerPayment {
		t.Fatalf("%d tickets, %v", len(pay.Tickets), err)
	}
	// Nonces are per set of params.
	p2, e2 := f.params(t)
	s.SetCredit(p.Recipient, nil)
	pay, err = s.Pay(ctx, p2, e2, ev)
	if err != nil || len(pay.Tickets) != 1 || pay.Tickets[0].SenderNonce != 1 {
		t.Fatalf("new params: %v, %v", nonces(pay), err)
	}
	// Refused takes the credit back.
	s.Refused(pay)
	if c := s.Credit(p.Recipient); c.Sign() != 0 {
		t.Fatalf("credit %s after Refused", c)
	}
}

func TestSenderRefusals(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	ctx := context.Background()
	need := p.EV()
	b := f.broker

	capped, err := NewSender(SenderConfig{Key: f.bcast, Broker: b, MaxPricePerPixel: big.NewInt(testPrice - 1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = capped.Pay(ctx, p, e, need)
	if err == nil || !strings.Contains(err.Error(), "orchestrator "+p.Recipient.Hex()+" asks 10 wei/pixel, max is 9") {
		t.Fatalf("max price: %v", err)
	}

	lowEV, _ := NewSender(SenderConfig{Key: f.bcast, Broker: b, MaxTicketEV: big.NewInt(testEV / 2)})
	if _, err := lowEV.Pay(ctx, p, e, need); err == nil || !strings.Contains(err.Error(), "max is 500000000") {
		t.Fatalf("max EV: %v", err)
	}

	b.fund(f.bcast.Address, testFace/2, testFace/2-1)
	if _, err := f.sender.Pay(ctx, p, e, need); err == nil || !strings.Contains(err.Error(), "has only 999999999999 wei locked") {
		t.Fatalf("unfunded: %v", err)
	}
	b.fund(f.bcast.Address, testFace, 0)

	b.advance(DefaultParamsTTL, 0)
	if _, err := f.sender.Pay(ctx, p, e, need); !errors.Is(err, ErrStaleParams) || !strings.Contains(err.Error(), "expired at block 1600") {
		t.Fatalf("expired block: %v", err)
	}
	p, e = f.params(t)
	b.advance(0, TicketValidityRounds)
	if _, err := f.sender.Pay(ctx, p, e, need); !errors.Is(err, ErrStaleParams) {
		t.Fatalf("expired round: %v", err)
	}

	p, e = f.params(t)
	few, _ := NewSender(SenderConfig{Key: f.bcast, Broker: b, MaxNoncesPerRand: 3})
	if pay, err := few.Pay(ctx, p, e, new(big.Int).Mul(need, big.NewInt(3))); err != nil || len(pay.Tickets) != 3 {
		t.Fatalf("3 nonces: %v", err)
	}
	few.SetCredit(p.Recipient, nil)
	if _, err := few.Pay(ctx, p, e, need); !errors.Is(err, ErrStaleParams) {
		t.Fatalf("out of nonces: %v", err)
	}

	bad := p
	bad.FaceValue = nil
	if _, err := f.sender.Pay(ctx, bad, e, need); !errors.Is(err, ErrTicket) {
		t.Fatalf("nil face value: %v", err)
	}
	zero := p
	zero.WinProb = new(big.Int)
	if pay, err := f.sender.Pay(ctx, zero, e, big.NewInt(0)); err != nil || len(pay.Tickets) != 0 {
		t.Fatalf("zero EV, nothing needed: %v", err)
	}
	if _, err := f.sender.Pay(ctx, zero, e, need); err == nil || !strings.Contains(err.Error(), "no expected value") {
		t.Fatalf("zero EV: %v", err)
	}
}

func TestSenderConcurrentPays(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[uint32]bool{}
	total := 0
	for range 8 {
		wg.Go(func() {
			pay, err := f.sender.Pay(context.Background(), p, e, new(big.Int).Mul(p.EV(), big.NewInt(4)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			total += len(pay.Tickets)
			for _, n := range nonces(pay) {
				if seen[n] {
					t.Errorf("nonce %d twice", n)
				}
				seen[n] = true
			}
		})
	}
	wg.Wait()
	if total != 4 {
		t.Fatalf("8 concurrent payments for the same need wrote %d tickets, want 4", total)
	}
}

func TestNewSenderChecks(t *testing.T) {
	if _, err := NewSender(SenderConfig{Broker: newFakeBroker()}); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := NewSender(SenderConfig{Key: testKey(t, bcastKeyHex)}); err == nil {
		t.Fatal("no broker accepted")
	}
}
