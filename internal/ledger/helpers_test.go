package ledger

import (
	"context"
	"crypto/rand"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
)

// testRoundBlocks is the round length tests use: 100 seconds.
const testRoundBlocks = 100

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_750_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Microsecond) // strictly increasing stamps
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openAt opens a ledger file with the test clock and round length.
func openAt(t testing.TB, path string, c *clock) *Ledger {
	t.Helper()
	l, err := Open(path, Options{Clock: c.Now, RoundBlocks: testRoundBlocks})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// env is a ledger with a sender key and a recipient address.
type env struct {
	t         testing.TB
	ctx       context.Context
	clock     *clock
	path      string
	l         *Ledger
	sender    sign.Key
	recipient common.Address
	nonce     uint32
}

func newEnv(t testing.TB) *env {
	t.Helper()
	c := newClock()
	path := filepath.Join(t.TempDir(), "data", "ledger.db")
	return &env{t: t, ctx: context.Background(), clock: c, path: path, l: openAt(t, path, c),
		sender: newKey(t), recipient: newKey(t).Address}
}

func newKey(t testing.TB) sign.Key {
	t.Helper()
	k, err := sign.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randInt(t testing.TB) *big.Int {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(b[:])
}

// ticket makes a signed ticket from e.sender to e.recipient in the
// ledger's current round, with its recipientRand.
func (e *env) ticket(face int64, winProb *big.Int) (pm.Ticket, []byte, *big.Int) {
	e.t.Helper()
	r, err := e.l.CurrentRound(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return makeTicket(e.t, e.sender, e.recipient, big.NewInt(face), winProb, &e.nonce, r)
}

func makeTicket(t testing.TB, sender sign.Key, recipient common.Address, face, winProb *big.Int, nonce *uint32, r pm.Round) (pm.Ticket, []byte, *big.Int) {
	t.Helper()
	rr := randInt(t)
	*nonce++
	tk := pm.Ticket{
		Recipient: recipient, Sender: sender.Address, FaceValue: face, WinProb: winProb,
		SenderNonce: *nonce, RecipientRandHash: pm.RandHash(rr),
		CreationRound: r.Number, CreationRoundBlockHash: r.BlockHash,
	}
	sig, err := tk.Sign(sender)
	if err != nil {
		t.Fatal(err)
	}
	return tk, sig, rr
}

func (e *env) fundDeposit(a common.Address, v int64) {
	e.t.Helper()
	if err := e.l.FundDeposit(e.ctx, a, big.NewInt(v)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) fundReserve(a common.Address, v int64) {
	e.t.Helper()
	if err := e.l.FundReserve(e.ctx, a, big.NewInt(v)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) account(a common.Address) Account {
	e.t.Helper()
	acct, err := e.l.Account(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return acct
}

// wantAccount checks an account's balances.
func (e *env) wantAccount(a common.Address, deposit, reserve, publisher, earnings int64) {
	e.t.Helper()
	got := e.account(a)
	want := []int64{deposit, reserve, publisher, earnings}
	for i, v := range []*big.Int{got.Deposit, got.Reserve, got.Publisher, got.Earnings} {
		if v.Cmp(big.NewInt(want[i])) != 0 {
			e.t.Fatalf("account %s: got deposit %s reserve %s publisher %s earnings %s, want %v",
				a, got.Deposit, got.Reserve, got.Publisher, got.Earnings, want)
		}
	}
}

// verify checks the whole ledger.
func (e *env) verify() {
	e.t.Helper()
	if err := e.l.Verify(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}
