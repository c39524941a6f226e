package pm

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// fakeBroker is an in-memory Broker with a settable clock and funds. Its
// Redeem applies TicketBroker's rules, the win rule included.
type fakeBroker struct {
	mu      sync.Mutex
	block   int64
	round   Round
	funds   map[common.Address]SenderInfo
	used    map[common.Hash]bool
	errs    []error // returned by the next Redeem calls, in order
	always  error   // returned by every Redeem call when set
	calls   int
	paid    *big.Int
	redeems []Ticket
}

func newFakeBroker() *fakeBroker {
	return &fakeBroker{
		block: 1000,
		round: Round{Number: 10, BlockHash: common.HexToHash("0xb10c")},
		funds: make(map[common.Address]SenderInfo),
		used:  make(map[common.Hash]bool),
		paid:  new(big.Int),
	}
}

func (f *fakeBroker) CurrentBlock(context.Context) (*big.Int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return big.NewInt(f.block), nil
}

func (f *fakeBroker) CurrentRound(context.Context) (Round, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.round, nil
}

func (f *fakeBroker) Sender(_ context.Context, s common.Address) (SenderInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.funds[s]
	if !ok {
		return SenderInfo{Deposit: new(big.Int), Reserve: new(big.Int)}, nil
	}
	return SenderInfo{Deposit: new(big.Int).Set(info.Deposit), Reserve: new(big.Int).Set(info.Reserve)}, nil
}

func (f *fakeBroker) IsUsed(_ context.Context, h common.Hash) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used[h], nil
}

func (f *fakeBroker) Redeem(_ context.Context, t Ticket, sig []byte, recipientRand *big.Int) (*big.Int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.always != nil {
		return nil, f.always
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	if signer, err := t.Signer(sig); err != nil || signer != t.Sender {
		return nil, ErrWrongSigner
	}
	if RandHash(recipientRand) != t.RecipientRandHash || !Wins(sig, recipientRand, t.WinProb) {
		return nil, ErrNotWinning
	}
	if t.CreationRound+TicketValidityRounds <= f.round.Number {
		return nil, ErrTicketExpired
	}
	if t.CreationRound > f.round.Number {
		return nil, ErrBadRound
	}
	h := t.Hash()
	if f.used[h] {
		return nil, ErrTicketUsed
	}
	info := f.funds[t.Sender]
	if info.Deposit == nil || new(big.Int).Add(info.Deposit, info.Reserve).Sign() == 0 {
		return nil, ErrInsufficientFunds
	}
	pay := new(big.Int).Set(t.FaceValue)
	fromDeposit := bigMin(pay, info.Deposit)
	info.Deposit.Sub(info.Deposit, fromDeposit)
	rest := new(big.Int).Sub(pay, fromDeposit)
	fromReserve := bigMin(rest, info.Reserve)
	info.Reserve.Sub(info.Reserve, fromReserve)
	paid := new(big.Int).Add(fromDeposit, fromReserve)
	f.used[h] = true
	f.paid.Add(f.paid, paid)
	f.redeems = append(f.redeems, t)
	return paid, nil
}

func bigMin(a, b *big.Int) *big.Int {
	if a.Cmp(b) < 0 {
		return new(big.Int).Set(a)
	}
	return new(big.Int).Set(b)
}

func (f *fakeBroker) fund(s common.Address, deposit, reserve int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.funds[s] = SenderInfo{Deposit: big.NewInt(deposit), Reserve: big.NewInt(reserve)}
}

func (f *fakeBroker) advance(blocks, rounds int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.block += blocks
	f.round.Number += rounds
	f.round.BlockHash = common.BigToHash(big.NewInt(f.round.Number + 0xb10c))
}

// alwaysWin makes every ticket a winner: EV = face value, winProb = 1.
func alwaysWin(c *RecipientConfig) { c.TicketEV = big.NewInt(testFace) }

// waitStats polls the stats until done says so.
func waitStats(t *testing.T, r *Recipient, done func(RecipientStats) bool) RecipientStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := r.Stats()
		if done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out; stats %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

func settled(st RecipientStats) bool {
	return st.RedeemPending == 0 && st.Redeemed+st.RedeemFailed == st.Winners
}

func TestWinnersAreRedeemed(t *testing.T) {
	f := newFixture(t, alwaysWin)
	p, e := f.params(t)
	if p.WinProb.Cmp(MaxWinProb) != 0 {
		t.Fatalf("winProb %s", p.WinProb)
	}
	f.sender.maxEV = big.NewInt(testFace)
	pay := f.pay(t, p, e, 3)
	if _, err := f.rcpt.Receive(context.Background(), pay); err != nil {
		t.Fatal(err)
	}
	st := waitStats(t, f.rcpt, func(s RecipientStats) bool { return s.Redeemed == 3 })
	if st.Winners != 3 || st.RedeemFailed != 0 || st.ValueRedeemed.Cmp(big.NewInt(3*testFace)) != 0 {
		t.Fatalf("stats %+v", st)
	}
	f.broker.mu.Lock()
	defer f.broker.mu.Unlock()
	if len(f.broker.redeems) != 3 || f.broker.paid.Cmp(big.NewInt(3*testFace)) != 0 {
		t.Fatalf("broker redeemed %d tickets, paid %s", len(f.broker.redeems), f.broker.paid)
	}
	for i, tk := range f.broker.redeems {
		if tk.Hash() != pay.Ticket(i).Hash() {
			t.Fatalf("redeemed ticket %d is not the one received", i)
		}
	}
}

func TestRedeemRetriesTransientErrors(t *testing.T) {
	f := newFixture(t, alwaysWin)
	rpc := errors.New("connection reset")
	f.broker.errs = []error{rpc, rpc}
	f.sender.maxEV = big.NewInt(testFace)
	p, e := f.params(t)
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 1)); err != nil {
		t.Fatal(err)
	}
	st := waitStats(t, f.rcpt, settled)
	if st.Redeemed != 1 || st.RedeemFailed != 0 {
		t.Fatalf("stats %+v", st)
	}
	f.broker.mu.Lock()
	defer f.broker.mu.Unlock()
	if f.broker.calls != 3 {
		t.Fatalf("%d Redeem calls, want 3", f.broker.calls)
	}
}

func TestRedeemGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"permanent", ErrTicketUsed, 1},
		{"expired", ErrTicketExpired, 1},
		{"transient", errors.New("timeout"), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *RecipientConfig) { alwaysWin(c); c.RedeemAttempts = 4 })
			f.broker.always = tc.err
			f.sender.maxEV = big.NewInt(testFace)
			p, e := f.params(t)
			if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 1)); err != nil {
				t.Fatal(err)
			}
			st := waitStats(t, f.rcpt, settled)
			if st.RedeemFailed != 1 || st.Redeemed != 0 {
				t.Fatalf("stats %+v", st)
			}
			f.broker.mu.Lock()
			defer f.broker.mu.Unlock()
			if f.broker.calls != tc.wantCalls {
				t.Fatalf("%d Redeem calls, want %d", f.broker.calls, tc.wantCalls)
			}
		})
	}
}

// TestCloseStops: Close ends the goroutine (goleak checks the whole
// package in TestMain) even with a winner waiting for a retry, and may be
// called twice.
func TestCloseStops(t *testing.T) {
	f := newFixture(t, func(c *RecipientConfig) { alwaysWin(c); c.RedeemBackoff = time.Hour })
	f.broker.always = errors.New("down")
	f.sender.maxEV = big.NewInt(testFace)
	p, e := f.params(t)
	if _, err := f.rcpt.Receive(context.Background(), f.pay(t, p, e, 1)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, f.rcpt, func(s RecipientStats) bool {
		f.broker.mu.Lock()
		defer f.broker.mu.Unlock()
		return f.broker.calls == 1 && s.RedeemPending == 1
	})
	done := make(chan struct{})
	go func() {
		f.rcpt.Close()
		f.rcpt.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case <-f.rcpt.done:
	default:
		t.Fatal("redemption goroutine still running")
	}
	if st := f.rcpt.Stats(); st.RedeemPending != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStatsJSON(t *testing.T) {
	st := RecipientStats{Payments: 2, Tickets: 5, Winners: 1, ValueCredited: big.NewInt(12345), ValueRedeemed: new(big.Int).Lsh(big.NewInt(1), 70)}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"payments":2`, `"tickets":5`, `"winners":1`, `"valueCredited":"12345"`, `"valueRedeemed":"1180591620717411303424"`, `"redeemPending":0`, `"reloaded":0`, `"storeErrors":0`} {
		if !strings.Contains(s, want) {
			t.Errorf("%s lacks %s", s, want)
		}
	}
}

// TestRedeemedMatchesCredited is the lottery over the long run: many
// tickets with winProb 1/50, the face value redeemed against the
// expected value credited. The wins are binomial, n tickets with p = 1/50:
// σ = sqrt(n·p·(1−p)) wins; the test allows 4σ (a 6e-5 chance of a false
// failure for a fair lottery). Keys are fixed, signatures are RFC 6979
// and the recipient's seeds and secret come from a seeded ChaCha8, so the
// outcome is the same on every run.
func TestRedeemedMatchesCredited(t *testing.T) {
	const (
		n        = 10_000
		oneIn    = 50
		perBatch = MaxTicketsPerPayment
	)
	if testing.Short() {
		t.Skip("long run")
	}
	f := newFixture(t, func(c *RecipientConfig) { c.TicketEV = big.NewInt(testFace / oneIn) })
	f.broker.fund(f.bcast.Address, math.MaxInt64, 0)
	p, e := f.params(t)
	sent := 0
	for sent < n {
		k := min(perBatch, n-sent)
		f.sender.SetCredit(p.Recipient, nil)
		pay, err := f.sender.Pay(context.Background(), p, e, new(big.Int).Mul(p.EV(), big.NewInt(int64(k))))
		if errors.Is(err, ErrStaleParams) { // out of nonces: new params
			p, e = f.params(t)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.rcpt.Receive(context.Background(), pay); errors.Is(err, ErrStaleParams) {
			p, e = f.params(t)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		sent += len(pay.Tickets)
	}
	st := waitStats(t, f.rcpt, func(s RecipientStats) bool { return s.Tickets == n && settled(s) })
	if st.RedeemFailed != 0 {
		t.Fatalf("stats %+v", st)
	}
	prob := 1.0 / oneIn
	sigma := math.Sqrt(n * prob * (1 - prob))
	wins := float64(st.Winners)
	credited, _ := new(big.Float).SetInt(st.ValueCredited).Float64()
	redeemed, _ := new(big.Float).SetInt(st.ValueRedeemed).Float64()
	t.Logf("%d tickets, %d winners (expected %.0f ± %.1f), credited %.4g wei, redeemed %.4g wei", n, st.Winners, n*prob, sigma, credited, redeemed)
	if math.Abs(redeemed-credited) > 4*sigma*testFace {
		t.Fatalf("redeemed %.4g wei, credited %.4g wei: more than 4σ (%.4g wei) apart", redeemed, credited, 4*sigma*testFace)
	}
	if redeemed != wins*testFace {
		t.Fatalf("redeemed %.4g wei for %d winners of %d", redeemed, st.Winners, testFace)
	}
}
