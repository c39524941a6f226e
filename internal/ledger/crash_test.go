package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
)

// Environment of the crash-test child process.
const (
	childEnvLedger = "CASTNET_LEDGER_CHILD"        // ledger file
	childEnvKey    = "CASTNET_LEDGER_CHILD_KEY"    // sender's hex private key
	childEnvPub    = "CASTNET_LEDGER_CHILD_PUB"    // publisher to bill
	childEnvReport = "CASTNET_LEDGER_CHILD_REPORT" // file the child appends committed work to
	childEnvReady  = "CASTNET_LEDGER_CHILD_READY"  // file the child creates once the ledger is open
	childEnvRun    = "CASTNET_LEDGER_CHILD_RUN"    // run number, to keep bill keys fresh
)

// report is one line of the child's report file, appended after the
// commit of what it names.
type report struct {
	Ticket *pm.Ticket `json:"ticket,omitempty"`
	Sig    string     `json:"sig,omitempty"`
	Rand   string     `json:"rand,omitempty"`
	Bill   string     `json:"bill,omitempty"`
}

// TestHelperChild is not a test: TestCrashSafety runs the test binary with
// it as a child process that redeems and bills as fast as it can until it
// is killed.
func TestHelperChild(t *testing.T) {
	path := os.Getenv(childEnvLedger)
	if path == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	key, err := sign.ParsePrivateKey(os.Getenv(childEnvKey))
	if err != nil {
		t.Fatal(err)
	}
	pub := common.HexToAddress(os.Getenv(childEnvPub))
	run := os.Getenv(childEnvRun)
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := os.OpenFile(os.Getenv(childEnvReport), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var repMu sync.Mutex
	write := func(r report) {
		b, _ := json.Marshal(r)
		repMu.Lock()
		defer repMu.Unlock()
		if _, err := rep.Write(append(b, '\n')); err != nil {
			t.Error(err)
		}
	}
	if err := os.WriteFile(os.Getenv(childEnvReady), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second) // the parent kills us long before
	recipient := pub                             // the publisher's account also earns: its row is written by both loops
	nonce := uint32(0)
	var wg sync.WaitGroup
	wg.Go(func() { // redeem fresh winning tickets
		for time.Now().Before(deadline) {
			r, _ := l.CurrentRound(ctx)
			tk, sig, rr := makeTicket(t, key, recipient, big.NewInt(1000), pm.MaxWinProb, &nonce, r)
			if _, err := l.Redeem(ctx, tk, sig, rr); err != nil {
				t.Errorf("Redeem: %v", err)
				return
			}
			write(report{Ticket: &tk, Sig: hex.EncodeToString(sig), Rand: rr.Text(16)})
		}
	})
	wg.Go(func() { // bill fresh keys
		for n := 0; time.Now().Before(deadline); n++ {
			k := fmt.Sprintf("run%s/%d", run, n)
			if _, err := l.Bill(ctx, pub, k, big.NewInt(7)); err != nil {
				t.Errorf("Bill: %v", err)
				return
			}
			write(report{Bill: k})
		}
	})
	wg.Wait()
}

// TestCrashSafety SIGKILLs a child process that redeems tickets and bills
// publishers in a tight loop, at random moments, and checks after each
// kill that the ledger file is intact and its books balance; at the end
// it re-submits every ticket and bill the child saw committed, and none
// is paid or charged twice.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	reportPath := filepath.Join(dir, "report.jsonl")
	sender, pub := newKey(t), newKey(t).Address
	ctx := context.Background()
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	huge, _ := new(big.Int).SetString("1000000000000000000000000000000", 10)
	if err := l.FundDeposit(ctx, sender.Address, huge); err != nil {
		t.Fatal(err)
	}
	if err := l.FundPublisher(ctx, pub, huge); err != nil {
		t.Fatal(err)
	}
	l.Close()

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const kills = 10
	start := time.Now()
	for run := range kills {
		ready := filepath.Join(dir, fmt.Sprintf("ready-%d", run))
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChild$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			childEnvLedger+"="+path,
			childEnvKey+"="+hex.EncodeToString(crypto.FromECDSA(sender.Private)),
			childEnvPub+"="+pub.Hex(),
			childEnvReport+"="+reportPath,
			childEnvReady+"="+ready,
			childEnvRun+"="+strconv.Itoa(run),
		)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ready, cmd, &out)
		time.Sleep(time.Duration(50+rng.IntN(251)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Fatalf("child exited by itself before the kill:\n%s", out.String())
		}

		l, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("reopen after kill %d: %v", run, err)
		}
		if err := l.Verify(ctx); err != nil {
			t.Fatalf("after kill %d: %v\nchild output:\n%s", run, err, out.String())
		}
		tickets, bills := readReports(t, reportPath)
		tot, err := l.Totals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tot.Tickets < int64(len(tickets)) || tot.Bills < int64(len(bills)) {
			t.Fatalf("after kill %d: ledger has %d tickets and %d bills, the child reported %d and %d committed",
				run, tot.Tickets, tot.Bills, len(tickets), len(bills))
		}
		t.Logf("kill %d: %d tickets, %d bills committed so far (child reported %d, %d)", run, tot.Tickets, tot.Bills, len(tickets), len(bills))
		l.Close()
	}

	// Re-submit everything the child reported: nothing is paid twice.
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before, err := l.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tickets, bills := readReports(t, reportPath)
	if len(tickets) == 0 || len(bills) == 0 {
		t.Fatalf("the child committed %d tickets and %d bills: too few to test", len(tickets), len(bills))
	}
	for _, r := range tickets {
		sig, _ := hex.DecodeString(r.Sig)
		rr, _ := new(big.Int).SetString(r.Rand, 16)
		if _, err := l.Redeem(ctx, *r.Ticket, sig, rr); !errors.Is(err, pm.ErrTicketUsed) {
			t.Fatalf("re-submitted ticket %s: %v, want ErrTicketUsed", r.Ticket.Hash(), err)
		}
	}
	for _, r := range bills {
		rem, err := l.Bill(ctx, pub, r.Bill, big.NewInt(7))
		if err != nil || rem.Cmp(before.Publisher) != 0 {
			t.Fatalf("re-billed %s: %v, %v; want a no-op leaving %s", r.Bill, rem, err, before.Publisher)
		}
	}
	after, err := l.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Redeemed.Cmp(before.Redeemed) != 0 || after.Billed.Cmp(before.Billed) != 0 || after.Tickets != before.Tickets {
		t.Fatalf("re-submission moved money: before %+v, after %+v", before, after)
	}
	if err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills in %v: %d tickets and %d bills committed, %d and %d re-submitted without effect",
		kills, time.Since(start).Round(time.Millisecond), after.Tickets, after.Bills, len(tickets), len(bills))
}

// waitFor waits until the child created its ready file.
func waitFor(t *testing.T, ready string, cmd *exec.Cmd, out *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(ready); err == nil {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("child never opened the ledger:\n%s", out.String())
}

// readReports reads the child's report file; a torn last line (the child
// was killed while writing it) is skipped.
func readReports(t *testing.T, path string) (tickets, bills []report) {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue
		}
		switch {
		case r.Ticket != nil:
			tickets = append(tickets, r)
		case r.Bill != "":
			bills = append(bills, r)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tickets, bills
}
