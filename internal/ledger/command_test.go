package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/pm"
)

// runCmd runs Command and returns its stdout and stderr.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Command(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestCommandFundBalanceHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", "ledger.db")
	sender, pub := newKey(t).Address, newKey(t).Address

	out, _, err := runCmd(t, "-ledger", path, "fund", "-deposit", sender.Hex(), "1.5eth")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"funded the deposit of " + sender.Hex() + " with 1500000000000000000 wei (1.5eth)",
		"deposit            1500000000000000000 wei (1.5eth)", "reserve            0wei"} {
		if !strings.Contains(out, want) {
			t.Errorf("fund output lacks %q:\n%s", want, out)
		}
	}
	// -ledger may also follow the subcommand.
	if _, _, err := runCmd(t, "fund", "-ledger", path, "-reserve", strings.ToLower(sender.Hex()), "20gwei"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "-ledger", path, "fund", "-publisher", pub.Hex(), "123"); err != nil {
		t.Fatal(err)
	}

	out, _, err = runCmd(t, "-ledger", path, "balance", sender.Hex())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "reserve            20000000000 wei (20gwei)") || !strings.Contains(out, "account            "+sender.Hex()) {
		t.Errorf("balance output:\n%s", out)
	}
	out, _, err = runCmd(t, "-ledger", path, "balance")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accounts            2", "funded in all       1500000020000000123 wei", "conserved           yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("totals lack %q:\n%s", want, out)
		}
	}

	out, _, err = runCmd(t, "-ledger", path, "history")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "publisher-fund") ||
		!strings.Contains(lines[1], "123wei") || !strings.Contains(lines[3], "deposit") {
		t.Errorf("history:\n%s", out)
	}
	out, _, err = runCmd(t, "-ledger", path, "history", "-n", "1", "-json", sender.Hex())
	if err != nil {
		t.Fatal(err)
	}
	var j historyJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.Kind != KindReserve || j.AmountWei != "20000000000" || j.Account != sender.Hex() {
		t.Errorf("history -json: %q (%v)", out, err)
	}
	out, _, err = runCmd(t, "-ledger", path, "history", newKey(t).Address.Hex())
	if err != nil || strings.TrimSpace(out) != "no history" {
		t.Errorf("history of a stranger = %q, %v", out, err)
	}
}

func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	addr := newKey(t).Address.Hex()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"fund", "-deposit", "0x1234", "1eth"}, "address: want 0x and 40 hex digits"},
		{[]string{"fund", "-deposit", addr, "1e-19eth"}, `amount: want wei or a number with eth/gwei, got "1e-19eth"`},
		{[]string{"fund", "-deposit", addr, "0.0000000000000000001eth"}, "not a whole number of wei"},
		{[]string{"fund", "-deposit", addr, "-5"}, "negative"},
		{[]string{"fund", "-deposit", addr, "lots"}, `got "lots"`},
		{[]string{"fund", "-deposit", addr, "0"}, "more than 0 wei"},
		{[]string{"fund", addr, "1eth"}, "exactly one of -deposit, -reserve and -publisher"},
		{[]string{"fund", "-deposit", "-reserve", addr, "1eth"}, "exactly one of"},
		{[]string{"fund", "-deposit", addr}, "want ADDRESS AMOUNT"},
		{[]string{"balance", "nope"}, "address:"},
		{[]string{"balance", addr, addr}, "at most one ADDRESS"},
		{[]string{"history", "-n", "-1"}, "must not be negative"},
		{[]string{"balance"}, "no ledger at"},
		{[]string{"history"}, "no ledger at"},
	} {
		_, _, err := runCmd(t, append([]string{"-ledger", path}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ledger %v = %v, want an error containing %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad commands created the ledger: %v", err)
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"-bogus"}, {"fund", "-bogus"}} {
		if _, stderr, err := runCmd(t, append([]string{"-ledger", path}, args...)...); !errors.Is(err, ErrUsage) || stderr == "" {
			t.Errorf("ledger %v = %v (stderr %q), want ErrUsage with an explanation", args, err, stderr)
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"fund", "-h"}, {"history", "-help"}} {
		out, _, err := runCmd(t, args...)
		if err != nil || !strings.Contains(out, "castnet ledger [-ledger PATH] fund -deposit|-reserve|-publisher ADDRESS AMOUNT") {
			t.Errorf("ledger %v = %v, usage:\n%s", args, err, out)
		}
	}
	if out, _, _ := runCmd(t, "history", "-h"); !strings.Contains(out, "-json") || !strings.Contains(out, DefaultPath) {
		t.Errorf("history -h lacks its flags:\n%s", out)
	}
}

// TestCommandSeesRedemptions checks balance and history after a redemption
// made through the API, as an orchestrator would.
func TestCommandSeesRedemptions(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 5000)
	tk, sig, rr := e.ticket(1200, pm.MaxWinProb)
	if _, err := e.l.Redeem(e.ctx, tk, sig, rr); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, "-ledger", e.path, "balance", e.recipient.Hex())
	if err != nil || !strings.Contains(out, "earnings           1200wei") {
		t.Fatalf("balance: %v\n%s", err, out)
	}
	out, _, err = runCmd(t, "-ledger", e.path, "history", "-json", "-n", "0")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first historyJSON
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Kind != KindRedeem ||
		first.Ref != tk.Hash().Hex() || first.Counterparty != e.sender.Address.Hex() {
		t.Fatalf("history -json:\n%s", out)
	}
	if v, _ := new(big.Int).SetString(first.AmountWei, 10); v == nil || v.Int64() != 1200 {
		t.Fatalf("amount %q", first.AmountWei)
	}
}
