package e2e

import (
	"context"
	"encoding/json"
	"math/big"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/sign"
	"github.com/ethereum/go-ethereum/common"
)

// payments is the part of an orchestrator's /api/payments the tests read.
type payments struct {
	Charged struct {
		Segments int    `json:"segments"`
		Pixels   uint64 `json:"pixels"`
		Wei      string `json:"wei"`
	} `json:"charged"`
	Tickets struct {
		Tickets       int    `json:"tickets"`
		Winners       int    `json:"winners"`
		Reloaded      int    `json:"reloaded"`
		Redeemed      int    `json:"redeemed"`
		RedeemFailed  int    `json:"redeemFailed"`
		RedeemPending int    `json:"redeemPending"`
		ValueCredited string `json:"valueCredited"`
		ValueRedeemed string `json:"valueRedeemed"`
	} `json:"tickets"`
}

func wei(t testing.TB, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("not a wei amount: %q", s)
	}
	return v
}

// TestPaidNetworkSignedEndToEnd runs the whole chain of custody as
// separate processes on loopback: a publisher signs a permit with its key,
// the broadcaster admits it (funded in the ledger), signs each segment and
// pays an orchestrator with tickets; the orchestrator has a transcoder
// sign its result and signs a receipt; winning tickets are redeemed in the
// shared ledger. Afterwards `castnet verify` checks every hash and
// signature, the publisher was billed exactly what the orchestrator
// charged, and the expected value paid covers price × pixels.
func TestPaidNetworkSignedEndToEnd(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	ledgerPath := filepath.Join(t.TempDir(), "ledger.db")
	bKey, oKey, tKey, pubKey := newKey(t), newKey(t), newKey(t), newKey(t)
	led := fundedLedger(t, ledgerPath, bKey.Address, pubKey.Address)
	ctx, eth := context.Background(), oneEther()
	// 3 wei per pixel; a face value equal to a ticket's expected value
	// (3 × 46,857,600) makes every ticket win, so redemption runs here.
	orch, _, _ := startOrchestrator(t, append([]string{"-transcode", "remote", "-secret", "s", "-price", "3",
		"-face-value", "140572800", "-ledger", ledgerPath}, keyFlags(t, oKey)...)...)
	startTranscoder(t, orch, "s", 2, keyFlags(t, tKey)...)
	b := startRole(t, "broadcaster", append([]string{"-orchestrators", orch, "-ledger", ledgerPath,
		"-require-permit"}, keyFlags(t, bKey)...)...)

	pctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out, err := publish(pctx, append(append([]string{}, keyFlags(t, pubKey)...), "-test-pattern",
		"-duration", "12s", b.URL+"/whip/paid")...)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	st := b.waitState("paid", "ended", 60*time.Second)
	if st.Published < 5 || st.SourceOnly != 0 || st.Failures != 0 {
		t.Fatalf("stream: %+v", st)
	}

	// Every segment checks out, strictly (none unsigned).
	dir := filepath.Join(b.Data, "hls", "paid")
	vout, err := exec.Command(binary, "verify", "-strict", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("castnet verify: %v\n%s", err, vout)
	}
	for _, who := range []sign.Key{bKey, oKey, tKey, pubKey} {
		if !strings.Contains(string(vout), who.Address.Hex()) {
			t.Errorf("verify report does not name %s:\n%s", who.Address.Hex(), vout)
		}
	}

	// Payments: the orchestrator charged price × pixels, winners were
	// redeemed, and the expected value paid covers the charge with at most
	// one segment's prepayment and one ticket to spare.
	var pay payments
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := json.Unmarshal([]byte(get(t, orch+"/api/payments")), &pay); err != nil {
			t.Fatal(err)
		}
		if pay.Tickets.RedeemPending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	charged, credited := wei(t, pay.Charged.Wei), wei(t, pay.Tickets.ValueCredited)
	if pay.Charged.Segments < st.Published || charged.Cmp(new(big.Int).Mul(big.NewInt(3), new(big.Int).SetUint64(pay.Charged.Pixels))) != 0 {
		t.Errorf("charged %+v for %d segments", pay.Charged, st.Published)
	}
	// One 2 s segment of the 720p source's ladder (480p, 360p) costs
	// 3 × (854×480 + 640×360) × 30 × 2 ≈ 115 Mwei; a ticket is worth
	// 3 × 46.9 Mpx (one second of the default ladder).
	slack := new(big.Int).Mul(big.NewInt(3), big.NewInt(46_857_600+(854*480+640*360)*30*2))
	if credited.Cmp(charged) < 0 || new(big.Int).Sub(credited, charged).Cmp(slack) > 0 {
		t.Errorf("expected value paid %s wei for %s wei of work (allowed excess %s)", credited, charged, slack)
	}
	t.Logf("charged %s wei for %d pixels in %d segments; tickets: %d sent, EV %s wei, %d won, %d redeemed for %s wei",
		charged, pay.Charged.Pixels, pay.Charged.Segments, pay.Tickets.Tickets, credited,
		pay.Tickets.Winners, pay.Tickets.Redeemed, pay.Tickets.ValueRedeemed)
	if pay.Tickets.Winners == 0 || pay.Tickets.Redeemed != pay.Tickets.Winners {
		t.Errorf("tickets %+v: want winners, all redeemed", pay.Tickets)
	}

	// The ledger: the orchestrator earned what the broadcaster's funds
	// lost, the publisher was billed what the orchestrator charged, and
	// money is conserved.
	bAcct, err := led.Account(ctx, bKey.Address)
	if err != nil {
		t.Fatal(err)
	}
	oAcct, _ := led.Account(ctx, oKey.Address)
	pAcct, _ := led.Account(ctx, pubKey.Address)
	spent := new(big.Int).Sub(new(big.Int).Mul(eth, big.NewInt(2)), new(big.Int).Add(bAcct.Deposit, bAcct.Reserve))
	if spent.Cmp(oAcct.Earnings) != 0 || oAcct.Earnings.Cmp(wei(t, pay.Tickets.ValueRedeemed)) != 0 {
		t.Errorf("broadcaster spent %s, orchestrator earned %s, redeemed %s", spent, oAcct.Earnings, pay.Tickets.ValueRedeemed)
	}
	if billed := new(big.Int).Sub(eth, pAcct.Publisher); billed.Cmp(charged) != 0 {
		t.Errorf("publisher billed %s wei, the orchestrator charged %s", billed, charged)
	}
	bal, err := exec.Command(binary, "ledger", "-ledger", ledgerPath, "balance").CombinedOutput()
	if err != nil || !strings.Contains(string(bal), "conserved           yes") {
		t.Errorf("ledger balance: %v\n%s", err, bal)
	}
}

// fundedLedger opens the ledger at path with a broadcaster's deposit and
// reserve and a publisher's balance of one ether each.
func fundedLedger(t *testing.T, path string, broadcaster, publisher common.Address) *ledger.Ledger {
	t.Helper()
	led := openLedger(t, path)
	ctx := context.Background()
	eth := oneEther()
	for _, fund := range []func() error{
		func() error { return led.FundDeposit(ctx, broadcaster, eth) },
		func() error { return led.FundReserve(ctx, broadcaster, eth) },
		func() error { return led.FundPublisher(ctx, publisher, eth) },
	} {
		if err := fund(); err != nil {
			t.Fatal(err)
		}
	}
	return led
}

func oneEther() *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil) }
