package pm

import (
	"context"
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/sign"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Fixed keys keep the tests deterministic (signatures are RFC 6979).
func testKey(t testing.TB, hex string) sign.Key {
	t.Helper()
	k, err := sign.ParsePrivateKey(hex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	orchKeyHex  = "0x1111111111111111111111111111111111111111111111111111111111111111"
	bcastKeyHex = "0x2222222222222222222222222222222222222222222222222222222222222222"
	otherKeyHex = "0x3333333333333333333333333333333333333333333333333333333333333333"
)

// Test economics: EV 1e9 wei per ticket, face 1e12 (winProb 1/1000).
const (
	testPrice = 10
	testEV    = 1_000_000_000
	testFace  = 1_000_000_000_000
)

type fixture struct {
	broker *fakeBroker
	rcpt   *Recipient
	sender *Sender
	orch   sign.Key
	bcast  sign.Key
}

func newFixture(t testing.TB, mod func(*RecipientConfig)) *fixture {
	t.Helper()
	f := &fixture{broker: newFakeBroker(), orch: testKey(t, orchKeyHex), bcast: testKey(t, bcastKeyHex)}
	f.broker.fund(f.bcast.Address, 10*testFace, 10*testFace)
	cfg := RecipientConfig{
		Key:           f.orch,
		Broker:        f.broker,
		PricePerPixel: big.NewInt(testPrice),
		TicketEV:      big.NewInt(testEV),
		FaceValue:     big.NewInt(testFace),
		RedeemBackoff: time.Millisecond,
		Rand:          rand.NewChaCha8([32]byte{1}),
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewRecipient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	f.rcpt = r
	s, err := NewSender(SenderConfig{Key: f.bcast, Broker: f.broker, MaxNoncesPerRand: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	f.sender = s
	return f
}

func (f *fixture) params(t testing.TB) (TicketParams, ExpirationParams) {
	t.Helper()
	p, e, err := f.rcpt.Params(context.Background(), f.bcast.Address)
	if err != nil {
		t.Fatal(err)
	}
	return p, e
}

// pay makes a payment of n tickets with fresh params (credit reset so
// that exactly n tickets are written).
func (f *fixture) pay(t testing.TB, p TicketParams, e ExpirationParams, n int) Payment {
	t.Helper()
	f.sender.SetCredit(p.Recipient, nil)
	pay, err := f.sender.Pay(context.Background(), p, e, new(big.Int).Mul(p.EV(), big.NewInt(int64(n))))
	if err != nil {
		t.Fatal(err)
	}
	if len(pay.Tickets) != n {
		t.Fatalf("payment has %d tickets, want %d", len(pay.Tickets), n)
	}
	return pay
}

// resign signs p's tickets again with k, after p was altered.
func resign(t testing.TB, p Payment, k sign.Key) Payment {
	t.Helper()
	p.Tickets = append([]TicketSig(nil), p.Tickets...)
	for i := range p.Tickets {
		sig, err := p.Ticket(i).Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		p.Tickets[i].Sig = sig
	}
	return p
}

func wantRefused(t *testing.T, err error, contains string) *PaymentError {
	t.Helper()
	var pe *PaymentError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPayment) {
		t.Fatalf("want a *PaymentError, got %v", err)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not say %q", err, contains)
	}
	return pe
}

func TestReceiveCredits(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	if p.Recipient != f.orch.Address || p.FaceValue.Int64() != testFace || p.PricePerPixel.Int64() != testPrice {
		t.Fatalf("params %+v", p)
	}
	if p.ExpirationBlock.Int64() != 1000+DefaultParamsTTL || e.CreationRound != 10 || e.CreationRoundBlockHash != f.broker.round.BlockHash {
		t.Fatalf("expiry %s, round %+v", p.ExpirationBlock, e)
	}
	if ev := p.EV().Int64(); ev < testEV-1 || ev > testEV {
		t.Fatalf("EV %d, want about %d", ev, testEV)
	}
	pay := f.pay(t, p, e, 3)
	got, err := f.rcpt.Receive(context.Background(), pay)
	if err != nil {
		t.Fatal(err)
	}
	want := new(big.Int).Mul(p.EV(), big.NewInt(3))
	if got.Cmp(want) != 0 || f.rcpt.Balance(f.bcast.Address).Cmp(want) != 0 {
		t.Fatalf("credited %s, balance %s, want %s", got, f.rcpt.Balance(f.bcast.Address), want)
	}
	// Through the wire form too.
	pay2, err := ParsePayment(EncodePayment(f.pay(t, p, e, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.rcpt.Receive(context.Background(), pay2); err != nil {
		t.Fatal(err)
	}
	st := f.rcpt.Stats()
	if st.Payments != 2 || st.Tickets != 4 || st.ValueCredited.Cmp(new(big.Int).Add(want, p.EV())) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestParamsAreFreshAndStateless(t *testing.T) {
	f := newFixture(t, nil)
	p1, _ := f.params(t)
	p2, _ := f.params(t)
	if p1.Seed.Cmp(p2.Seed) == 0 || p1.RecipientRandHash == p2.RecipientRandHash {
		t.Fatal("two params share a seed")
	}
	// Params for another sender do not pay for this one.
	other := testKey(t, otherKeyHex)
	po, eo, err := f.rcpt.Params(context.Background(), other.Address)
	if err != nil {
		t.Fatal(err)
	}
	pay := f.pay(t, po, eo, 1)
	_, err = f.rcpt.Receive(context.Background(), pay)
	wantRefused(t, err, "not issued")
}

func TestReceiveRefusesAlteredParams(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	good := f.pay(t, p, e, 1)
	one := big.NewInt(1)
	alter := map[string]func(*Payment){
		"faceValue":       func(q *Payment) { q.Params.FaceValue = new(big.Int).Add(p.FaceValue, one) },
		"winProb":         func(q *Payment) { q.Params.WinProb = new(big.Int).Add(p.WinProb, one) },
		"pricePerPixel":   func(q *Payment) { q.Params.PricePerPixel = new(big.Int).Add(p.PricePerPixel, one) },
		"seed":            func(q *Payment) { q.Params.Seed = new(big.Int).Add(p.Seed, one) },
		"expirationBlock": func(q *Payment) { q.Params.ExpirationBlock = new(big.Int).Add(p.ExpirationBlock, one) },
		"randHash":        func(q *Payment) { q.Params.RecipientRandHash[0] ^= 1 },
		"creationRound":   func(q *Payment) { q.Expiration.CreationRound++ },
		"roundBlockHash":  func(q *Payment) { q.Expiration.CreationRoundBlockHash[0] ^= 1 },
		"sender":          func(q *Payment) { q.Sender = common.Address{1} },
	}
	for name, mod := range alter {
		t.Run(name, func(t *testing.T) {
			q := good
			mod(&q)
			key := f.bcast
			if name == "sender" {
				key = testKey(t, otherKeyHex)
				q.Sender = key.Address
				f.broker.fund(key.Address, testFace, 0)
			}
			q = resign(t, q, key) // a valid signature: only the commitment can catch it
			_, err := f.rcpt.Receive(context.Background(), q)
			pe := wantRefused(t, err, "not issued")
			if !pe.Stale || !errors.Is(err, ErrStaleParams) {
				t.Fatalf("altered params not marked stale: %+v", pe)
			}
		})
	}
	if bal := f.rcpt.Balance(f.bcast.Address); bal.Sign() != 0 {
		t.Fatalf("balance %s after refused payments", bal)
	}
	if _, err := f.rcpt.Receive(context.Background(), good); err != nil {
		t.Fatalf("the unaltered payment: %v", err)
	}
}

func TestReceiveRefusesOutOfRangeNumbers(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	good := f.pay(t, p, e, 1)
	// pad32 keeps the low 256 bits: face + 2^256 would commit like face.
	wide := new(big.Int).Add(p.FaceValue, new(big.Int).Lsh(big.NewInt(1), 256))
	for name, mod := range map[string]func(*Payment){
		"wide face":     func(q *Payment) { q.Params.FaceValue = wide },
		"negative seed": func(q *Payment) { q.Params.Seed = big.NewInt(-1) },
		"nil price":     func(q *Payment) { q.Params.PricePerPixel = nil },
		"neg round":     func(q *Payment) { q.Expiration.CreationRound = -1 },
	} {
		q := good
		mod(&q)
		if _, err := f.rcpt.Receive(context.Background(), q); !errors.Is(err, ErrPayment) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReceiveRefusesExpired(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	pay := f.pay(t, p, e, 1)
	f.broker.advance(DefaultParamsTTL-1, 0)
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 1)); err != nil {
		t.Fatalf("one block before expiry: %v", err)
	}
	f.broker.advance(1, 0)
	_, err := f.rcpt.Receive(context.Background(), pay)
	if pe := wantRefused(t, err, "expired at block"); !pe.Stale {
		t.Fatal("not stale")
	}

	f = newFixture(t, nil)
	p, e = f.params(t)
	f.broker.advance(0, TicketValidityRounds-1)
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 1)); err != nil {
		t.Fatalf("last valid round: %v", err)
	}
	late := f.pay(t, p, e, 1)
	f.broker.advance(0, 1)
	_, err = f.rcpt.Receive(context.Background(), late)
	wantRefused(t, err, "tickets of round 10 expired")
}

func TestReceiveRefusesReplay(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	pay := f.pay(t, p, e, 2)
	if _, err := f.rcpt.Receive(context.Background(), pay); err != nil {
		t.Fatal(err)
	}
	bal := f.rcpt.Balance(f.bcast.Address)
	_, err := f.rcpt.Receive(context.Background(), pay)
	wantRefused(t, err, "ticket nonce 1 was already received")
	if f.rcpt.Balance(f.bcast.Address).Cmp(bal) != 0 {
		t.Fatal("a replay changed the balance")
	}
	// A nonce twice in one payment.
	dup := f.pay(t, p, e, 2)
	dup.Tickets[1] = dup.Tickets[0]
	_, err = f.rcpt.Receive(context.Background(), dup)
	wantRefused(t, err, "appears twice")
	if st := f.rcpt.Stats(); st.PaymentsRefused != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReceiveConcurrentReplay(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	pay := f.pay(t, p, e, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			if _, err := f.rcpt.Receive(context.Background(), pay); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 || f.rcpt.Balance(f.bcast.Address).Cmp(p.EV()) != 0 {
		t.Fatalf("%d of 8 concurrent copies accepted, balance %s", ok, f.rcpt.Balance(f.bcast.Address))
	}
}

func TestReceiveNonceLimit(t *testing.T) {
	f := newFixture(t, func(c *RecipientConfig) { c.MaxNoncesPerRand = 3 })
	p, e := f.params(t)
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 2)); err != nil {
		t.Fatal(err)
	}
	_, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 2))
	if pe := wantRefused(t, err, "limit is 3"); !pe.Stale {
		t.Fatal("not stale")
	}
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 1)); err != nil {
		t.Fatalf("third nonce: %v", err)
	}
	_, err = f.rcpt.Receive(context.Background(), f.pay(t, p, e, 1))
	wantRefused(t, err, "limit is 3")
	p2, e2 := f.params(t)
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p2, e2, 3)); err != nil {
		t.Fatalf("new params: %v", err)
	}
}

func TestReceiveRefusesWrongRecipient(t *testing.T) {
	f := newFixture(t, nil)
	g := newFixture(t, func(c *RecipientConfig) { c.Key = testKey(t, otherKeyHex) })
	p, e := g.params(t)
	_, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 1))
	wantRefused(t, err, "tickets are for "+g.rcpt.Address().Hex())
}

func TestReceiveRefusesBadSignatures(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	good := f.pay(t, p, e, 1)

	forged := resign(t, good, testKey(t, otherKeyHex))
	_, err := f.rcpt.Receive(context.Background(), forged)
	wantRefused(t, err, "not by sender "+f.bcast.Address.Hex())

	broken := good
	broken.Tickets = []TicketSig{{SenderNonce: 1, Sig: append([]byte(nil), good.Tickets[0].Sig...)}}
	broken.Tickets[0].Sig[10] ^= 0xff
	if _, err := f.rcpt.Receive(context.Background(), broken); !errors.Is(err, ErrPayment) {
		t.Fatalf("corrupted signature: %v", err)
	}

	v01 := good
	v01.Tickets = []TicketSig{{SenderNonce: 1, Sig: append([]byte(nil), good.Tickets[0].Sig...)}}
	v01.Tickets[0].Sig[64] -= 27
	_, err = f.rcpt.Receive(context.Background(), v01)
	wantRefused(t, err, "v = 27 or 28")

	short := good
	short.Tickets = []TicketSig{{SenderNonce: 1, Sig: good.Tickets[0].Sig[:64]}}
	wantRefused(t, func() error { _, err := f.rcpt.Receive(context.Background(), short); return err }(), "65 bytes")

	if _, err := f.rcpt.Receive(context.Background(), good); err != nil {
		t.Fatalf("good payment after refused ones: %v", err)
	}
}

func TestReceiveRefusesUnfundedSender(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	pay := f.pay(t, p, e, 1) // Pay itself checks the funds: cut them after
	f.broker.fund(f.bcast.Address, testFace/2, testFace/2-1)
	_, err := f.rcpt.Receive(context.Background(), pay)
	wantRefused(t, err, "sender "+f.bcast.Address.Hex()+" has 999999999999 wei locked, a ticket needs 1000000000000")
	f.broker.fund(f.bcast.Address, testFace/2, testFace/2)
	if _, err := f.rcpt.Receive(context.Background(), pay); err != nil {
		t.Fatalf("exactly funded: %v", err)
	}
}

// TestReceiveIsAtomic: one bad ticket refuses the payment, and its good
// tickets' nonces stay unused.
func TestReceiveIsAtomic(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	pay := f.pay(t, p, e, 3)
	bad := pay
	bad.Tickets = append([]TicketSig(nil), pay.Tickets...)
	bad.Tickets[2] = resign(t, Payment{Sender: pay.Sender, Params: p, Expiration: e, Tickets: pay.Tickets[2:]}, testKey(t, otherKeyHex)).Tickets[0]
	_, err := f.rcpt.Receive(context.Background(), bad)
	wantRefused(t, err, "ticket nonce 3 is signed by")
	if bal := f.rcpt.Balance(f.bcast.Address); bal.Sign() != 0 {
		t.Fatalf("balance %s after a refused payment", bal)
	}
	if st := f.rcpt.Stats(); st.Tickets != 0 || st.ValueCredited.Sign() != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := f.rcpt.Receive(context.Background(), pay); err != nil {
		t.Fatalf("the good payment: %v", err)
	}
}

func TestReceiveEmptyPayment(t *testing.T) {
	f := newFixture(t, nil)
	p, e := f.params(t)
	got, err := f.rcpt.Receive(context.Background(), Payment{Sender: f.bcast.Address, Params: p, Expiration: e})
	if err != nil || got.Sign() != 0 {
		t.Fatalf("credited %v, %v", got, err)
	}
	f.broker.advance(DefaultParamsTTL, 0)
	_, err = f.rcpt.Receive(context.Background(), Payment{Sender: f.bcast.Address, Params: p, Expiration: e})
	wantRefused(t, err, "expired")
}

func TestReceiveAcceptsOlderHigherPrice(t *testing.T) {
	secret := []byte("a fixed secret for this test....")
	f := newFixture(t, func(c *RecipientConfig) { c.Secret = secret; c.PricePerPixel = big.NewInt(20) })
	p, e := f.params(t)
	pay := f.pay(t, p, e, 2)
	f.rcpt.Close()
	// The orchestrator restarts with the same secret and a lower price:
	// parameters at the older, higher price stay good.
	lower := newFixture(t, func(c *RecipientConfig) { c.Secret = secret; c.PricePerPixel = big.NewInt(15); c.Broker = f.broker })
	if _, err := lower.rcpt.Receive(context.Background(), pay); err != nil {
		t.Fatalf("higher price: %v", err)
	}
	higher := newFixture(t, func(c *RecipientConfig) { c.Secret = secret; c.PricePerPixel = big.NewInt(25); c.Broker = f.broker })
	_, err := higher.rcpt.Receive(context.Background(), pay)
	if pe := wantRefused(t, err, "below the current price 25"); !pe.Stale {
		t.Fatal("not stale")
	}
}

func TestCreditReserveDebit(t *testing.T) {
	f := newFixture(t, nil)
	s := f.bcast.Address
	need := big.NewInt(2 * testEV)
	_, err := f.rcpt.Reserve(s, need)
	wantRefused(t, err, "credit 0 wei, this segment needs about 2000000000 wei")
	p, e := f.params(t)
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 2)); err != nil {
		t.Fatal(err)
	}
	ev2 := new(big.Int).Mul(p.EV(), big.NewInt(2))
	h, err := f.rcpt.Reserve(s, ev2)
	if err != nil {
		t.Fatal(err)
	}
	h.Release()
	f.rcpt.Debit(s, big.NewInt(3*testEV))
	want := new(big.Int).Sub(ev2, big.NewInt(3*testEV))
	if bal := f.rcpt.Balance(s); bal.Cmp(want) != 0 || bal.Sign() >= 0 {
		t.Fatalf("balance %s, want %s (negative)", bal, want)
	}
	if _, err := f.rcpt.Reserve(s, big.NewInt(0)); err == nil {
		t.Fatal("a negative credit passed Reserve(0)")
	}
	f.rcpt.Debit(s, big.NewInt(-5))
	f.rcpt.Debit(s, nil)
	if bal := f.rcpt.Balance(s); bal.Cmp(want) != 0 {
		t.Fatalf("negative/nil debit changed the balance to %s", bal)
	}
}

func TestNewRecipientDefaults(t *testing.T) {
	b := newFakeBroker()
	k := testKey(t, orchKeyHex)
	r, err := NewRecipient(RecipientConfig{Key: k, Broker: b, PricePerPixel: big.NewInt(1200)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wantEV := big.NewInt(1200 * DefaultEVPixels)
	if r.TicketEV().Cmp(wantEV) != 0 || r.face.Int64() != DefaultFaceValue || len(r.secret) != 32 {
		t.Fatalf("ev %s face %s", r.TicketEV(), r.face)
	}
	p, _, err := r.Params(context.Background(), common.Address{7})
	if err != nil {
		t.Fatal(err)
	}
	if p.ExpirationBlock.Int64() != 1000+DefaultParamsTTL {
		t.Fatalf("expiry %s", p.ExpirationBlock)
	}
	// A high price raises the face value to 100 × EV.
	r2, err := NewRecipient(RecipientConfig{Key: k, Broker: b, PricePerPixel: big.NewInt(1_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if want := new(big.Int).Mul(r2.TicketEV(), big.NewInt(MinFaceValueMultiple)); r2.face.Cmp(want) != 0 {
		t.Fatalf("face %s, want %s", r2.face, want)
	}
	for name, cfg := range map[string]RecipientConfig{
		"no key":        {Broker: b, PricePerPixel: big.NewInt(1)},
		"no broker":     {Key: k, PricePerPixel: big.NewInt(1)},
		"no price":      {Key: k, Broker: b},
		"face below EV": {Key: k, Broker: b, PricePerPixel: big.NewInt(1), TicketEV: big.NewInt(10), FaceValue: big.NewInt(9)},
		"negative EV":   {Key: k, Broker: b, PricePerPixel: big.NewInt(1), TicketEV: big.NewInt(-1)},
	} {
		if r, err := NewRecipient(cfg); err == nil {
			r.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkReceive validates one-ticket payments one at a time; the
// product needs at least 1000 a second on 2 cores.
func BenchmarkReceive(b *testing.B) {
	f, pays := benchPayments(b)
	b.ResetTimer()
	start := time.Now()
	for i := range pays {
		if _, err := f.rcpt.Receive(context.Background(), pays[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tickets/s")
}

// BenchmarkReceiveParallel validates one-ticket payments from
// GOMAXPROCS goroutines.
func BenchmarkReceiveParallel(b *testing.B) {
	f, pays := benchPayments(b)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.rcpt.Receive(context.Background(), pays[next.Add(1)-1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tickets/s")
}

// benchPayments makes b.N one-ticket payments, signed before the timer
// starts.
func benchPayments(b *testing.B) (*fixture, []Payment) {
	f := newFixture(b, func(c *RecipientConfig) { c.MaxNoncesPerRand = 1 << 30 })
	f.broker.fund(f.bcast.Address, 1<<62, 0)
	p, e := f.params(b)
	pays := make([]Payment, b.N)
	for i := range pays {
		pays[i] = f.pay(b, p, e, 1)
	}
	return f, pays
}
