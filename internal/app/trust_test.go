package app

import (
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/sign"
)

// TestChargingSellerKeepsWinnersOnDisk: a charging orchestrator always
// has a winners file (there is no in-memory mode on the product path), and
// does not start when that file cannot be used; a free one has none.
func TestChargingSellerKeepsWinnersOnDisk(t *testing.T) {
	dir := t.TempDir()
	led, err := ledger.Open(filepath.Join(dir, "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	key, err := sign.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	c := sellerConfig{key: key, domain: sign.DefaultDomain(), price: big.NewInt(3), ledger: led,
		winners: filepath.Join(dir, "winners.db")}
	st, err := newSellerTrust(c, log)
	if err != nil {
		t.Fatal(err)
	}
	if st.recipient == nil || st.winners == nil {
		t.Fatal("a charging seller without a winners store")
	}
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.winners); err != nil {
		t.Fatal(err)
	}
	c.winners = led.Path()
	if st, err := newSellerTrust(c, log); err == nil {
		st.close()
		t.Fatal("started with the ledger as its winners file")
	}
	c.price, c.winners = new(big.Int), filepath.Join(dir, "free.db")
	st, err = newSellerTrust(c, log)
	if err != nil || st.recipient != nil || st.close() != nil {
		t.Fatalf("free seller: %+v %v", st, err)
	}
	if _, err := os.Stat(c.winners); !os.IsNotExist(err) {
		t.Fatalf("a free seller made a winners file: %v", err)
	}
}
