package e2e

import (
	"context"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode/remote"
	"github.com/castnet/castnet/internal/trust"
)

const keyPassword = "e2e-password"

var keyLine = regexp.MustCompile(`(?m)^address (0x[0-9a-fA-F]{40})\nfile +(\S+)$`)

// newKey makes a key with `castnet keys new` (light scrypt) and opens it.
func newKey(t testing.TB) sign.Key {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(binary, "keys", "new", "-light", "-dir", dir)
	cmd.Env = append(os.Environ(), "CASTNET_ETH_PASSWORD="+keyPassword)
	out, err := cmd.CombinedOutput()
	m := keyLine.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("castnet keys new: %v\n%s", err, out)
	}
	k, err := sign.Load(string(m[2]), keyPassword)
	if err != nil || k.Address.Hex() != string(m[1]) {
		t.Fatalf("key file %s: %v (address %s, printed %s)", m[2], err, k.Address.Hex(), m[1])
	}
	return k
}

// keyFlags are a role's flags for signing with k.
func keyFlags(t testing.TB, k sign.Key) []string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(keyPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"-eth-key", k.Path, "-eth-password-file", pw}
}

// openLedger opens the ledger file nodes share, closed when the test ends.
func openLedger(t testing.TB, path string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// payingSealer is a broadcaster's sealer for the orchestrator at base,
// paying with k's deposit in led.
func payingSealer(t testing.TB, k sign.Key, led *ledger.Ledger, base string) remote.Sealer {
	t.Helper()
	ctx := context.Background()
	eth := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	if err := led.FundDeposit(ctx, k.Address, eth); err != nil {
		t.Fatal(err)
	}
	if err := led.FundReserve(ctx, k.Address, eth); err != nil {
		t.Fatal(err)
	}
	snd, err := pm.NewSender(pm.SenderConfig{Key: k, Broker: led})
	if err != nil {
		t.Fatal(err)
	}
	return trust.NewBroadcaster(trust.BroadcasterConfig{Key: k, Domain: sign.DefaultDomain(), Sender: snd}).ForNode(base)
}
