package winstore_test

import (
	"context"
	"database/sql"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/pm/winstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openStore opens a store at path, closed when the test ends; the clock
// ticks a second per call so Pending's order is Add's order.
func openStore(t testing.TB, path string) *winstore.Store {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	s, err := winstore.Open(path, winstore.Options{Clock: func() time.Time { now = now.Add(time.Second); return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sample is a winner with every field set, 256-bit numbers included; the
// store checks no signature, so sig is any 65 bytes.
func sample(nonce uint32) pm.Winner {
	sig := make([]byte, 65)
	sig[0], sig[64] = byte(nonce), 27
	return pm.Winner{
		Ticket: pm.Ticket{
			Recipient:              common.HexToAddress("0x1111111111111111111111111111111111111111"),
			Sender:                 common.HexToAddress("0x2222222222222222222222222222222222222222"),
			FaceValue:              big.NewInt(1_000_000_000_000_000),
			WinProb:                new(big.Int).Set(pm.MaxWinProb),
			SenderNonce:            nonce,
			RecipientRandHash:      common.HexToHash("0xabcdef"),
			CreationRound:          471_234,
			CreationRoundBlockHash: common.HexToHash("0xb10c"),
		},
		Sig:           sig,
		RecipientRand: new(big.Int).Sub(pm.MaxWinProb, big.NewInt(int64(nonce))),
	}
}

func pending(t testing.TB, s *winstore.Store) []pm.Winner {
	t.Helper()
	ws, err := s.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestWinnersOutliveTheStore: what Add commits reads back field for field
// from the reopened file, oldest first, until Done.
func TestWinnersOutliveTheStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "winners.db")
	s := openStore(t, path)
	a, b := sample(7), sample(1<<32-1)
	b.Attempts = 3
	if err := s.Add(ctx, []pm.Winner{a, b}); err != nil {
		t.Fatal(err)
	}
	c := sample(0)
	c.Ticket.CreationRound, c.Ticket.CreationRoundBlockHash = 0, common.Hash{} // no auxData
	if err := s.Add(ctx, []pm.Winner{c}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path)
	if got := pending(t, s); !reflect.DeepEqual(got, []pm.Winner{a, b, c}) {
		t.Fatalf("pending after reopen:\n got %+v\nwant %+v", got, []pm.Winner{a, b, c})
	}
	if err := s.Done(ctx, b.Ticket.Hash()); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(ctx, common.HexToHash("0x404")); err != nil {
		t.Fatalf("Done of an unknown hash: %v", err)
	}
	if got := pending(t, s); len(got) != 2 || got[0].Ticket.Hash() != a.Ticket.Hash() || got[1].Ticket.Hash() != c.Ticket.Hash() {
		t.Fatalf("pending after Done: %+v", got)
	}
}

// TestAddIsIdempotent: adding a stored winner again keeps one row, whose
// attempts only grow.
func TestAddIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "winners.db"))
	w := sample(1)
	for _, attempts := range []int{0, 3, 1, 0} {
		w.Attempts = attempts
		if err := s.Add(ctx, []pm.Winner{w, w}); err != nil {
			t.Fatal(err)
		}
	}
	if got := pending(t, s); len(got) != 1 || got[0].Attempts != 3 {
		t.Fatalf("pending %+v, want one winner with 3 attempts", got)
	}
}

// TestAddIsAllOrNothing: a batch with one bad winner stores none of it.
func TestAddIsAllOrNothing(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "winners.db"))
	bad := sample(2)
	bad.Ticket.FaceValue = nil
	if err := s.Add(context.Background(), []pm.Winner{sample(1), bad}); err == nil {
		t.Fatal("a winner without a face value was stored")
	}
	if got := pending(t, s); len(got) != 0 {
		t.Fatalf("pending %+v after a failed Add", got)
	}
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	led, err := ledger.Open(filepath.Join(dir, "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	led.Close()
	if s, err := winstore.Open(filepath.Join(dir, "ledger.db"), winstore.Options{}); err == nil || !strings.Contains(err.Error(), "not a castnet winner store") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("opening the ledger as a winner store: %v", err)
	}
	newer := filepath.Join(dir, "newer.db")
	openStore(t, newer).Close()
	execSQL(t, newer, "PRAGMA user_version = 2")
	if s, err := winstore.Open(newer, winstore.Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("opening a newer store: %v", err)
	}
}

// TestCorruptRowFailsPending: a row edited so it no longer is the ticket
// its hash names stops Pending, rather than being skipped in silence.
func TestCorruptRowFailsPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "winners.db")
	s := openStore(t, path)
	if err := s.Add(context.Background(), []pm.Winner{sample(1)}); err != nil {
		t.Fatal(err)
	}
	for _, edit := range []string{"UPDATE winners SET face_value = '1'", "UPDATE winners SET sender = 'nobody'"} {
		t.Run(edit, func(t *testing.T) {
			execSQL(t, path, "UPDATE winners SET face_value = '1000000000000000', sender = '0x2222222222222222222222222222222222222222'")
			execSQL(t, path, edit)
			if _, err := s.Pending(context.Background()); err == nil || !strings.Contains(err.Error(), "corrupt winner") {
				t.Fatalf("Pending: %v", err)
			}
		})
	}
}

func TestFileIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	path := filepath.Join(t.TempDir(), "winners.db")
	openStore(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("mode %o, want 600: the file holds every winner's recipientRand", m)
	}
}

// execSQL runs q on the file through a connection of its own.
func execSQL(t testing.TB, path, q string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}
