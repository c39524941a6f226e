package winstore_test

import (
	"context"
	"database/sql"
	"errors"
	"math/big"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/pm/winstore"
	"github.com/castnet/castnet/internal/sign"
)

// face is what a winning ticket pays; the tests' tickets all win (their
// expected value is the face value).
const face = 1_000_000_000_000_000

var errDown = errors.New("broker unreachable")

// flaky is the real ledger as a broker whose Redeem fails for a
// transient reason while it is down, as a chain RPC endpoint may.
type flaky struct {
	*ledger.Ledger
	down  atomic.Bool
	calls atomic.Int64
}

func (f *flaky) Redeem(ctx context.Context, t pm.Ticket, sig []byte, rand *big.Int) (*big.Int, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, errDown
	}
	return f.Ledger.Redeem(ctx, t, sig, rand)
}

// world is an orchestrator's files (ledger and winner store, in one
// directory) and a funded broadcaster that pays it.
type world struct {
	dir    string
	led    *ledger.Ledger
	orch   sign.Key
	bcast  sign.Key
	sender *pm.Sender
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), orch: newKey(t), bcast: newKey(t)}
	led, err := ledger.Open(filepath.Join(w.dir, "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	w.led = led
	eth := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	if err := led.FundDeposit(context.Background(), w.bcast.Address, eth); err != nil {
		t.Fatal(err)
	}
	if w.sender, err = pm.NewSender(pm.SenderConfig{Key: w.bcast, Broker: led, MaxNoncesPerRand: 1 << 20,
		MaxTicketEV: big.NewInt(face)}); err != nil {
		t.Fatal(err)
	}
	return w
}

func newKey(t testing.TB) sign.Key {
	t.Helper()
	k, err := sign.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (w *world) storePath() string { return filepath.Join(w.dir, winstore.FileName) }

// broker is the ledger behind a switch, up or down.
func (w *world) broker(down bool) *flaky {
	f := &flaky{Ledger: w.led}
	f.down.Store(down)
	return f
}

// recipient starts the orchestrator's side of payments on store; it is
// closed when the test ends (a crash test closes it only then).
func (w *world) recipient(t testing.TB, b pm.Broker, store pm.WinnerStore, mod ...func(*pm.RecipientConfig)) *pm.Recipient {
	t.Helper()
	cfg := pm.RecipientConfig{Key: w.orch, Broker: b, Store: store, PricePerPixel: big.NewInt(1),
		TicketEV: big.NewInt(face), FaceValue: big.NewInt(face), MaxNoncesPerRand: 1 << 20,
		RedeemBackoff: time.Hour}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := pm.NewRecipient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// pay makes a payment of n tickets for r, every one a winner.
func (w *world) pay(t testing.TB, r *pm.Recipient, n int) pm.Payment {
	t.Helper()
	p, e, err := r.Params(context.Background(), w.bcast.Address)
	if err != nil {
		t.Fatal(err)
	}
	w.sender.SetCredit(p.Recipient, nil)
	pay, err := w.sender.Pay(context.Background(), p, e, new(big.Int).Mul(p.EV(), big.NewInt(int64(n))))
	if err != nil {
		t.Fatal(err)
	}
	if len(pay.Tickets) != n {
		t.Fatalf("%d tickets, want %d", len(pay.Tickets), n)
	}
	return pay
}

// earned is what the ledger paid the orchestrator.
func (w *world) earned(t testing.TB) *big.Int {
	t.Helper()
	a, err := w.led.Account(context.Background(), w.orch.Address)
	if err != nil {
		t.Fatal(err)
	}
	return a.Earnings
}

func waitStats(t testing.TB, r *pm.Recipient, done func(pm.RecipientStats) bool) pm.RecipientStats {
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

func waitCalls(t testing.TB, b *flaky, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d Redeem calls, want %d", b.calls.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWinnerIsRedeemedAfterARestart: a winner the broker could not take
// before Close is redeemed by the next recipient on the same file, with
// its failed attempt remembered.
func TestWinnerIsRedeemedAfterARestart(t *testing.T) {
	w := newWorld(t)
	down := w.broker(true)
	store := openStore(t, w.storePath())
	r := w.recipient(t, down, store)
	pay := w.pay(t, r, 1)
	if _, err := r.Receive(context.Background(), pay); err != nil {
		t.Fatal(err)
	}
	waitCalls(t, down, 1)
	waitStats(t, r, func(s pm.RecipientStats) bool { return s.RedeemPending == 1 })
	r.Close()
	store.Close()

	store = openStore(t, w.storePath())
	if ws := pending(t, store); len(ws) != 1 || ws[0].Attempts != 1 || ws[0].Ticket.Hash() != pay.Ticket(0).Hash() {
		t.Fatalf("stored %+v, want the winner with its one failed attempt", ws)
	}
	r2 := w.recipient(t, w.broker(false), store)
	st := waitStats(t, r2, func(s pm.RecipientStats) bool { return s.Redeemed == 1 })
	if st.Reloaded != 1 || st.Winners != 0 || st.RedeemPending != 0 || st.ValueRedeemed.Int64() != face {
		t.Fatalf("stats after restart %+v", st)
	}
	if got := w.earned(t); got.Int64() != face {
		t.Fatalf("ledger paid the orchestrator %s wei, want %d", got, face)
	}
	if ws := pending(t, store); len(ws) != 0 {
		t.Fatalf("redeemed winner still stored: %+v", ws)
	}
}

// TestCrashLeavesWinnersForTheNextStart: a recipient that never closes
// (the process was killed) has already committed its winner when Receive
// returned; the next recipient, on its own connection to the file,
// redeems it.
func TestCrashLeavesWinnersForTheNextStart(t *testing.T) {
	w := newWorld(t)
	crashed := w.recipient(t, w.broker(true), openStore(t, w.storePath()))
	pay := w.pay(t, crashed, 2)
	if _, err := crashed.Receive(context.Background(), pay); err != nil {
		t.Fatal(err)
	}
	next := w.recipient(t, w.broker(false), openStore(t, w.storePath()))
	st := waitStats(t, next, func(s pm.RecipientStats) bool { return s.Redeemed == 2 })
	if st.Reloaded != 2 || st.RedeemFailed != 0 {
		t.Fatalf("stats %+v", st)
	}
	for i := range pay.Tickets {
		if used, err := w.led.IsUsed(context.Background(), pay.Ticket(i).Hash()); err != nil || !used {
			t.Fatalf("ticket %d not redeemed on the ledger (%v)", i, err)
		}
	}
}

// TestReceiveRefusesWhatItCannotStore: while the store cannot commit, a
// winning payment is refused (ErrNotPersisted, not the sender's fault),
// nothing is credited and its nonces stay unused, so the same payment is
// accepted once the store works again.
func TestReceiveRefusesWhatItCannotStore(t *testing.T) {
	w := newWorld(t)
	store := openStore(t, w.storePath())
	r := w.recipient(t, w.broker(true), store)
	pay := w.pay(t, r, 1)
	release := holdWriteLock(t, w.storePath())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := r.Receive(ctx, pay)
	if !errors.Is(err, pm.ErrNotPersisted) || errors.Is(err, pm.ErrPayment) {
		t.Fatalf("Receive with the store locked: %v, want ErrNotPersisted", err)
	}
	st := r.Stats()
	if r.Balance(w.bcast.Address).Sign() != 0 || st.Payments != 0 || st.Winners != 0 || st.RedeemPending != 0 || st.StoreErrors != 1 {
		t.Fatalf("after a refused payment: balance %s, stats %+v", r.Balance(w.bcast.Address), st)
	}
	release()
	credited, err := r.Receive(context.Background(), pay)
	if err != nil {
		t.Fatalf("the same payment once the store works: %v", err)
	}
	if credited.Int64() != face || len(pending(t, store)) != 1 {
		t.Fatalf("credited %s, stored %d", credited, len(pending(t, store)))
	}
}

// TestReceiveAfterTheStoreClosedIsRefused: a closed store (a node
// shutting down) refuses the payment rather than credit a winner it
// would lose.
func TestReceiveAfterTheStoreClosedIsRefused(t *testing.T) {
	w := newWorld(t)
	store := openStore(t, w.storePath())
	r := w.recipient(t, w.broker(true), store)
	pay := w.pay(t, r, 1)
	store.Close()
	for range 2 { // twice: the first refusal took no nonce
		if _, err := r.Receive(context.Background(), pay); !errors.Is(err, pm.ErrNotPersisted) {
			t.Fatalf("Receive: %v, want ErrNotPersisted", err)
		}
	}
	if r.Balance(w.bcast.Address).Sign() != 0 {
		t.Fatal("credited a payment whose winner was not stored")
	}
}

// TestConcurrentDuplicatesAreCreditedOnce: the same winning payment sent
// eight times at once is credited and stored once; the store write runs
// outside the recipient's lock, the nonces are taken before it.
func TestConcurrentDuplicatesAreCreditedOnce(t *testing.T) {
	w := newWorld(t)
	store := openStore(t, w.storePath())
	r := w.recipient(t, w.broker(true), store)
	pay := w.pay(t, r, 3)
	var wg sync.WaitGroup
	var ok, replays atomic.Int32
	for range 8 {
		wg.Go(func() {
			_, err := r.Receive(context.Background(), pay)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, pm.ErrPayment):
				replays.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || replays.Load() != 7 {
		t.Fatalf("%d accepted, %d refused as replays; want 1 and 7", ok.Load(), replays.Load())
	}
	if bal := r.Balance(w.bcast.Address); bal.Cmp(big.NewInt(3*face)) != 0 {
		t.Fatalf("balance %s, want %d", bal, 3*face)
	}
	if n := len(pending(t, store)); n != 3 {
		t.Fatalf("%d winners stored, want 3", n)
	}
}

// TestGivenUpWinnerWaitsForTheNextStart: a winner that fails
// RedeemAttempts times is given up for this run but kept, and the next
// start redeems it.
func TestGivenUpWinnerWaitsForTheNextStart(t *testing.T) {
	w := newWorld(t)
	store := openStore(t, w.storePath())
	r := w.recipient(t, w.broker(true), store, func(c *pm.RecipientConfig) {
		c.RedeemAttempts, c.RedeemBackoff = 2, time.Millisecond
	})
	if _, err := r.Receive(context.Background(), w.pay(t, r, 1)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, r, func(s pm.RecipientStats) bool { return s.RedeemFailed == 1 })
	r.Close()
	if ws := pending(t, store); len(ws) != 1 || ws[0].Attempts != 2 {
		t.Fatalf("stored %+v, want the winner with 2 attempts", ws)
	}
	r2 := w.recipient(t, w.broker(false), store)
	waitStats(t, r2, func(s pm.RecipientStats) bool { return s.Redeemed == 1 })
	if got := w.earned(t); got.Int64() != face {
		t.Fatalf("earned %s", got)
	}
}

// TestRedeemedElsewhereIsForgotten: a stored winner the broker already
// paid (another process redeemed it, or Done was lost in a crash) is
// refused for good at the next start and leaves the store; nothing is
// paid twice.
func TestRedeemedElsewhereIsForgotten(t *testing.T) {
	w := newWorld(t)
	store := openStore(t, w.storePath())
	r := w.recipient(t, w.broker(true), store)
	if _, err := r.Receive(context.Background(), w.pay(t, r, 1)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	ws := pending(t, store)
	if _, err := w.led.Redeem(context.Background(), ws[0].Ticket, ws[0].Sig, ws[0].RecipientRand); err != nil {
		t.Fatal(err)
	}
	r2 := w.recipient(t, w.broker(false), store)
	st := waitStats(t, r2, func(s pm.RecipientStats) bool { return s.RedeemFailed == 1 })
	if st.Redeemed != 0 || len(pending(t, store)) != 0 || w.earned(t).Int64() != face {
		t.Fatalf("stats %+v, stored %d, earned %s", st, len(pending(t, store)), w.earned(t))
	}
}

// holdWriteLock takes the store file's write lock from another
// connection, as a stuck writer would, until release is called.
func holdWriteLock(t testing.TB, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// stuck is a broker whose Redeem waits until the recipient closes, so a
// benchmark measures Receive alone.
type stuck struct{ pm.Broker }

func (stuck) Redeem(ctx context.Context, _ pm.Ticket, _ []byte, _ *big.Int) (*big.Int, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// BenchmarkReceiveWinner is the price of the synchronous commit: one-ticket
// payments that all win, without a store and with the SQLite one (WAL,
// synchronous=FULL: one fsync per winning payment).
func BenchmarkReceiveWinner(b *testing.B) {
	for _, name := range []string{"memory", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			w := newWorld(b)
			var store pm.WinnerStore
			if name == "sqlite" {
				store = openStore(b, w.storePath())
			}
			r := w.recipient(b, stuck{w.led}, store)
			pays := make([]pm.Payment, b.N)
			for i := range pays {
				pays[i] = w.pay(b, r, 1)
			}
			b.ResetTimer()
			for i := range pays {
				if _, err := r.Receive(context.Background(), pays[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
