package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the test holds the ledger's write lock through its own connection

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// TestKilledOrchestratorRedeemsItsWinnersAfterRestart: an orchestrator
// accepts a payment whose tickets all win, and is killed (SIGKILL) while
// the ledger is locked so it cannot redeem them; started again on the
// same files, it redeems every winner from its winners file, once.
func TestKilledOrchestratorRedeemsItsWinnersAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ledgerPath := filepath.Join(dir, "ledger.db")
	oKey := newKey(t)
	// 3 wei per pixel and a face value equal to a ticket's expected value
	// (3 × 46,857,600): every ticket wins.
	args := append([]string{"-transcode", "remote", "-secret", "s", "-price", "3", "-face-value", "140572800",
		"-ledger", ledgerPath}, keyFlags(t, oKey)...)
	orch, cmd, logs := startOrchestrator(t, args...)
	if _, err := os.Stat(filepath.Join(dir, "winners.db")); err != nil {
		t.Fatalf("no winners file beside the ledger: %v", err)
	}
	led := openLedger(t, ledgerPath)
	client := &remote.Client{URL: orch, Sealer: payingSealer(t, newKey(t), led, orch)}
	unlock := lockFile(t, ledgerPath)

	// No transcoder is connected, so the segment fails (503) after its
	// payment was taken: the winners are what this test is about.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	job := transcode.Job{Stream: "winners", Input: bytes.NewReader(make([]byte, 188*100)),
		Profiles: transcode.Ladder(transcode.DefaultLadder(), 1280, 720), SourceWidth: 1280, SourceHeight: 720}
	_, _ = client.Transcode(ctx, job)
	before := waitPayments(t, orch, func(p payments) bool { return p.Tickets.Winners > 0 })
	if before.Tickets.Redeemed != 0 {
		t.Fatalf("redeemed %d with the ledger locked", before.Tickets.Redeemed)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	unlock()

	orch, _, logs = startOrchestrator(t, args...)
	after := waitPayments(t, orch, func(p payments) bool { return p.Tickets.Redeemed == before.Tickets.Winners })
	t.Logf("before the kill %+v; after the restart %+v", before.Tickets, after.Tickets)
	if after.Tickets.Reloaded != before.Tickets.Winners || after.Tickets.RedeemFailed != 0 {
		t.Errorf("after the restart %+v, want all %d winners reloaded and redeemed\n%s", after.Tickets, before.Tickets.Winners, logs)
	}
	acct, err := led.Account(ctx, oKey.Address)
	if err != nil {
		t.Fatal(err)
	}
	want := new(big.Int).Mul(big.NewInt(140572800), big.NewInt(int64(before.Tickets.Winners)))
	if acct.Earnings.Cmp(want) != 0 {
		t.Errorf("the ledger paid the orchestrator %s wei, want %s (%d winners)", acct.Earnings, want, before.Tickets.Winners)
	}
}

// waitPayments polls an orchestrator's /api/payments until done.
func waitPayments(t *testing.T, orch string, done func(payments) bool) payments {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var p payments
		if err := json.Unmarshal([]byte(get(t, orch+"/api/payments")), &p); err != nil {
			t.Fatal(err)
		}
		if done(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("payments %+v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockFile takes a SQLite file's write lock, as a long writer in another
// process would, until unlock (or the end of the test).
func lockFile(t *testing.T, path string) (unlock func()) {
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
	done := false
	unlock = func() {
		if !done {
			done = true
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
			_ = conn.Close()
			_ = db.Close()
		}
	}
	t.Cleanup(unlock)
	return unlock
}
