package e2e

import (
	"context"
	"encoding/json"
	"math/big"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestInflatingOrchestratorIsNeverBilled (issue 11, attack 3): the first
// orchestrator a paying broadcaster tries has a lying transcoder (-fault
// inflate): it sends each rendition 50 times over with its continuity
// counters renumbered. The orchestrator's own gate holds that to the
// broadcaster's billing rules and refuses to sign for or charge it (502);
// the broadcaster fails the segment over to the honest orchestrator and
// suspends the failing one for the stream. The publisher is billed exactly
// what the honest one charged, and the custody log verifies.
func TestInflatingOrchestratorIsNeverBilled(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	ledgerPath := filepath.Join(t.TempDir(), "ledger.db")
	bKey, liarKey, honestKey, pubKey := newKey(t), newKey(t), newKey(t), newKey(t)
	led := fundedLedger(t, ledgerPath, bKey.Address, pubKey.Address)
	ctx, eth := context.Background(), oneEther()
	paid := func(k []string, extra ...string) string {
		u, _, _ := startOrchestrator(t, append(append([]string{"-price", "3", "-ledger", ledgerPath}, k...), extra...)...)
		return u
	}
	liar := paid(keyFlags(t, liarKey), "-fault", "inflate")
	honest := paid(keyFlags(t, honestKey), "-capacity", "4")
	b := startRole(t, "broadcaster", append([]string{"-orchestrators", liar + "," + honest, "-ledger", ledgerPath,
		"-require-permit"}, keyFlags(t, bKey)...)...)

	pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := publish(pctx, append(append([]string{}, keyFlags(t, pubKey)...), "-test-pattern",
		"-width", "640", "-height", "360", "-bitrate", "800000", "-duration", "10s", b.URL+"/whip/liar")...)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	st := b.waitState("liar", "ended", time.Minute)
	if st.Published != st.Segments || st.Published < 4 || st.SourceOnly != 0 || st.Failures != 0 {
		t.Fatalf("published %d of %d, %d source only, %d failures (%s)",
			st.Published, st.Segments, st.SourceOnly, st.Failures, st.LastError)
	}
	nodes := orchestrators(t, b.URL)
	if nodes[liar].Failed < 1 || nodes[liar].OK != 0 || !slices.Contains(nodes[liar].SuspendedFor, "liar") {
		t.Errorf("the liar was not failed and suspended: %+v", nodes[liar])
	}
	var lied, charged payments
	if err := json.Unmarshal([]byte(get(t, liar+"/api/payments")), &lied); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(get(t, honest+"/api/payments")), &charged); err != nil {
		t.Fatal(err)
	}
	if lied.Charged.Segments != 0 || lied.Charged.Pixels != 0 || wei(t, lied.Charged.Wei).Sign() != 0 {
		t.Errorf("the lying transcoder's orchestrator signed for and charged %+v", lied.Charged)
	}
	pAcct, err := led.Account(ctx, pubKey.Address)
	if err != nil {
		t.Fatal(err)
	}
	billed := new(big.Int).Sub(eth, pAcct.Publisher)
	if want := wei(t, charged.Charged.Wei); billed.Cmp(want) != 0 {
		t.Errorf("publisher billed %s wei, the honest orchestrator charged %s", billed, want)
	}
	t.Logf("the liar's gate refused %d segments and charged nothing; the publisher paid %s wei, the honest node's %d pixels in %d segments",
		nodes[liar].Failed, billed, charged.Charged.Pixels, charged.Charged.Segments)
	vout, err := exec.Command(binary, "verify", "-strict", filepath.Join(b.Data, "hls", "liar")).CombinedOutput()
	if err != nil {
		t.Errorf("castnet verify: %v\n%s", err, vout)
	}
}
