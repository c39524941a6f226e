package ledger

import (
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
)

func TestOpenCreatesFile(t *testing.T) {
	e := newEnv(t)
	fi, err := os.Stat(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ledger file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(e.path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("ledger dir mode %v, want 0700", di.Mode().Perm())
	}
	for _, p := range []struct{ q, want string }{
		{"PRAGMA journal_mode", "wal"}, {"PRAGMA user_version", "1"}, {"PRAGMA synchronous", "2"}, {"PRAGMA busy_timeout", "5000"},
	} {
		var got string
		if err := e.l.wdb.QueryRow(p.q).Scan(&got); err != nil || got != p.want {
			t.Errorf("%s = %q, %v; want %q", p.q, got, err, p.want)
		}
	}
	id := e.l.ID()
	if id == (common.Hash{}) {
		t.Fatal("zero ledger id")
	}
	r1, _ := e.l.CurrentRound(e.ctx)
	e.l.Close()

	l2 := openAt(t, e.path, e.clock)
	if l2.ID() != id {
		t.Fatalf("ledger id changed across reopen: %s, then %s", id, l2.ID())
	}
	if r2, _ := l2.CurrentRound(e.ctx); r2 != r1 {
		t.Fatalf("round %+v, after reopen %+v", r1, r2)
	}
	other := openAt(t, filepath.Join(t.TempDir(), "other.db"), e.clock)
	if other.ID() == id || other.RoundBlockHash(r1.Number) == r1.BlockHash {
		t.Fatal("two ledgers share an id or round hash")
	}
	if b, _ := l2.CurrentBlock(e.ctx); b.Int64()/testRoundBlocks != r1.Number {
		t.Fatalf("block %s is not in round %d", b, r1.Number)
	}
}

func TestOpenRefusesOtherDatabases(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE x (y)"); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	db2, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2.Close()
	if _, err := Open(foreign, Options{}); err == nil || !strings.Contains(err.Error(), "not a castnet ledger") {
		t.Errorf("Open(foreign) = %v", err)
	}
	if _, err := Open(newer, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open(newer) = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), []byte(strings.Repeat("not sqlite ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(dir, "junk.db"), Options{}); err == nil {
		t.Error("Open(junk) succeeded")
	}
}

func TestFund(t *testing.T) {
	e := newEnv(t)
	a := newKey(t).Address
	e.fundDeposit(a, 5)
	e.fundDeposit(a, 7)
	e.fundReserve(a, 3)
	if err := e.l.FundPublisher(e.ctx, a, big.NewInt(11)); err != nil {
		t.Fatal(err)
	}
	e.wantAccount(a, 12, 3, 11, 0)
	e.wantAccount(newKey(t).Address, 0, 0, 0, 0)
	si, err := e.l.Sender(e.ctx, newKey(t).Address)
	if err != nil || si.Deposit.Sign() != 0 || si.Reserve.Sign() != 0 {
		t.Fatalf("Sender(unknown) = %+v, %v", si, err)
	}
	for name, v := range map[string]*big.Int{"nil": nil, "zero": big.NewInt(0), "negative": big.NewInt(-1),
		"too wide": new(big.Int).Lsh(big.NewInt(1), 256)} {
		if err := e.l.FundDeposit(e.ctx, a, v); !errors.Is(err, ErrAmount) {
			t.Errorf("FundDeposit(%s) = %v, want ErrAmount", name, err)
		}
	}
	if err := e.l.FundDeposit(e.ctx, a, pm.MaxWinProb); !errors.Is(err, ErrAmount) {
		t.Errorf("FundDeposit past 2^256-1 = %v, want ErrAmount", err)
	}
	if err := e.l.FundDeposit(e.ctx, common.Address{}, big.NewInt(1)); err == nil {
		t.Error("funded the zero address")
	}
	e.wantAccount(a, 12, 3, 11, 0)
	e.verify()
}

func TestBill(t *testing.T) {
	e := newEnv(t)
	pub := newKey(t).Address
	if _, err := e.l.Bill(e.ctx, pub, "s/1", big.NewInt(1)); !errors.Is(err, ErrInsufficientBalance) ||
		!strings.Contains(err.Error(), "balance 0 wei, bill 1 wei") {
		t.Fatalf("Bill with no balance = %v", err)
	}
	if err := e.l.FundPublisher(e.ctx, pub, big.NewInt(100)); err != nil {
		t.Fatal(err)
	}
	rem, err := e.l.Bill(e.ctx, pub, "s/1", big.NewInt(30))
	if err != nil || rem.Int64() != 70 {
		t.Fatalf("Bill = %v, %v; want 70", rem, err)
	}
	// The same key again is a no-op.
	rem, err = e.l.Bill(e.ctx, pub, "s/1", big.NewInt(30))
	if err != nil || rem.Int64() != 70 {
		t.Fatalf("Bill again = %v, %v; want 70 and no charge", rem, err)
	}
	// A bill larger than the balance charges nothing, and the key stays
	// free for a retry.
	rem, err = e.l.Bill(e.ctx, pub, "s/2", big.NewInt(71))
	if !errors.Is(err, ErrInsufficientBalance) || !strings.Contains(err.Error(), "balance 70 wei, bill 71 wei") || rem.Int64() != 70 {
		t.Fatalf("Bill beyond the balance = %v", err)
	}
	e.wantAccount(pub, 0, 0, 70, 0)
	rem, err = e.l.Bill(e.ctx, pub, "s/2", big.NewInt(70))
	if err != nil || rem.Sign() != 0 {
		t.Fatalf("Bill of the whole balance = %v, %v", rem, err)
	}
	// Keys are per publisher.
	other := newKey(t).Address
	if err := e.l.FundPublisher(e.ctx, other, big.NewInt(5)); err != nil {
		t.Fatal(err)
	}
	if rem, err := e.l.Bill(e.ctx, other, "s/1", big.NewInt(5)); err != nil || rem.Sign() != 0 {
		t.Fatalf("another publisher's bill with the same key = %v, %v", rem, err)
	}
	for _, bad := range []*big.Int{nil, big.NewInt(-1)} {
		if _, err := e.l.Bill(e.ctx, pub, "s/3", bad); !errors.Is(err, ErrAmount) {
			t.Errorf("Bill(%v) = %v, want ErrAmount", bad, err)
		}
	}
	if _, err := e.l.Bill(e.ctx, pub, "", big.NewInt(0)); err == nil {
		t.Error("billed an empty key")
	}
	tot, err := e.l.Totals(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot.Billed.Int64() != 105 || tot.Publisher.Sign() != 0 || tot.FundedPublisher.Int64() != 105 || tot.Bills != 3 {
		t.Fatalf("totals %+v", tot)
	}
	e.verify()
}

func TestPermitNonce(t *testing.T) {
	e := newEnv(t)
	pub, other := newKey(t).Address, newKey(t).Address
	if err := e.l.UsePermitNonce(e.ctx, pub, big.NewInt(7)); err != nil {
		t.Fatal(err)
	}
	if err := e.l.UsePermitNonce(e.ctx, pub, big.NewInt(7)); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("reused nonce: %v", err)
	}
	if err := e.l.UsePermitNonce(e.ctx, other, big.NewInt(7)); err != nil {
		t.Fatalf("another publisher's nonce 7: %v", err)
	}
	big1 := new(big.Int).Lsh(big.NewInt(1), 200)
	if err := e.l.UsePermitNonce(e.ctx, pub, big1); err != nil {
		t.Fatal(err)
	}
	if err := e.l.UsePermitNonce(e.ctx, pub, big.NewInt(-1)); err == nil {
		t.Fatal("accepted a negative nonce")
	}
	e.l.Close()

	l := openAt(t, e.path, e.clock)
	for _, n := range []*big.Int{big.NewInt(7), big1} {
		if err := l.UsePermitNonce(e.ctx, pub, n); !errors.Is(err, ErrNonceUsed) {
			t.Fatalf("nonce %s reused after reopening: %v", n, err)
		}
	}
	if err := l.UsePermitNonce(e.ctx, pub, big.NewInt(8)); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryOrder(t *testing.T) {
	e := newEnv(t)
	a, b := newKey(t).Address, newKey(t).Address
	e.fundDeposit(e.sender.Address, 1000)
	if err := e.l.FundPublisher(e.ctx, a, big.NewInt(50)); err != nil {
		t.Fatal(err)
	}
	e.fundReserve(b, 9)
	if _, err := e.l.Bill(e.ctx, a, "k", big.NewInt(20)); err != nil {
		t.Fatal(err)
	}
	e.recipient = a
	tk, sig, rr := e.ticket(100, pm.MaxWinProb)
	if _, err := e.l.Redeem(e.ctx, tk, sig, rr); err != nil {
		t.Fatal(err)
	}
	all, err := e.l.History(e.ctx, common.Address{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i, h := range all {
		kinds = append(kinds, h.Kind)
		if i > 0 && (h.ID >= all[i-1].ID || !h.Time.Before(all[i-1].Time)) {
			t.Fatalf("history not newest first: %+v", all)
		}
	}
	if got := strings.Join(kinds, ","); got != "redeem,bill,reserve,publisher-fund,deposit" {
		t.Fatalf("history kinds %s", got)
	}
	ofA, err := e.l.History(e.ctx, a, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ofA) != 3 || ofA[0].Kind != KindRedeem || ofA[1].Ref != "k" || ofA[2].Kind != KindPublisherFund {
		t.Fatalf("history of a: %+v", ofA)
	}
	ofSender, _ := e.l.History(e.ctx, e.sender.Address, 0)
	if len(ofSender) != 2 || ofSender[0].Counterparty != e.sender.Address {
		t.Fatalf("history of the sender: %+v", ofSender)
	}
	two, _ := e.l.History(e.ctx, common.Address{}, 2)
	if len(two) != 2 || two[0].ID != all[0].ID || two[1].ID != all[1].ID {
		t.Fatalf("History limit 2: %+v", two)
	}
}

// TestConservation runs random funding, billing and redemptions and checks
// the books after each step.
func TestConservation(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	pubs := []common.Address{newKey(t).Address, newKey(t).Address}
	for i := range 60 {
		switch rng.IntN(5) {
		case 0:
			e.fundDeposit(e.sender.Address, rng.Int64N(500)+1)
		case 1:
			e.fundReserve(e.sender.Address, rng.Int64N(200)+1)
		case 2:
			if err := e.l.FundPublisher(e.ctx, pubs[rng.IntN(2)], big.NewInt(rng.Int64N(300)+1)); err != nil {
				t.Fatal(err)
			}
		case 3:
			_, err := e.l.Bill(e.ctx, pubs[rng.IntN(2)], fmt.Sprint("k", rng.IntN(20)), big.NewInt(rng.Int64N(100)))
			if err != nil && !errors.Is(err, ErrInsufficientBalance) {
				t.Fatal(err)
			}
		case 4:
			tk, sig, rr := e.ticket(rng.Int64N(400)+1, pm.MaxWinProb)
			if _, err := e.l.Redeem(e.ctx, tk, sig, rr); err != nil && !errors.Is(err, pm.ErrInsufficientFunds) {
				t.Fatal(err)
			}
		}
		if i%10 == 9 {
			e.verify()
		}
	}
	tot, err := e.l.Totals(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot.Funded().Cmp(tot.Held()) != 0 || tot.Funded().Sign() == 0 {
		t.Fatalf("funded %s, held %s", tot.Funded(), tot.Held())
	}
	// Tampering is caught.
	if _, err := e.l.wdb.Exec("UPDATE totals SET amount = amount || '1' WHERE name = 'billed'"); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Verify(e.ctx); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Verify after tampering = %v", err)
	}
}

// TestWriteTransactionsAreImmediate checks that a write transaction holds
// the write lock from BEGIN, before any statement: another connection's
// BEGIN IMMEDIATE then fails at once (busy_timeout 0).
func TestWriteTransactionsAreImmediate(t *testing.T) {
	e := newEnv(t)
	tx, err := e.l.wdb.BeginTx(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite", e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(e.ctx, "BEGIN IMMEDIATE"); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("BEGIN IMMEDIATE beside an open write transaction = %v, want database is locked", err)
	}
	// Readers are not blocked (WAL).
	if _, err := e.l.Account(e.ctx, e.sender.Address); err != nil {
		t.Fatal(err)
	}
}
