package ledger

import (
	"errors"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
)

// wantErr checks that err wraps target.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func TestRedeemPays(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 1000)
	tk, sig, rr := e.ticket(300, pm.MaxWinProb)
	if used, err := e.l.IsUsed(e.ctx, tk.Hash()); err != nil || used {
		t.Fatalf("IsUsed before redeeming = %v, %v", used, err)
	}
	paid, err := e.l.Redeem(e.ctx, tk, sig, rr)
	if err != nil {
		t.Fatal(err)
	}
	if paid.Int64() != 300 {
		t.Fatalf("paid %s, want 300", paid)
	}
	e.wantAccount(e.sender.Address, 700, 0, 0, 0)
	e.wantAccount(e.recipient, 0, 0, 0, 300)
	if used, err := e.l.IsUsed(e.ctx, tk.Hash()); err != nil || !used {
		t.Fatalf("IsUsed after redeeming = %v, %v", used, err)
	}
	si, err := e.l.Sender(e.ctx, e.sender.Address)
	if err != nil || si.Deposit.Int64() != 700 || si.Reserve.Sign() != 0 {
		t.Fatalf("Sender = %+v, %v", si, err)
	}
	h, err := e.l.History(e.ctx, e.recipient, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Kind != KindRedeem || h[0].Account != e.recipient || h[0].Counterparty != e.sender.Address ||
		h[0].Amount.Int64() != 300 || h[0].Ref != tk.Hash().Hex() {
		t.Fatalf("history %+v", h)
	}
	e.verify()
}

func TestRedeemWrongSigner(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 1000)
	tk, _, rr := e.ticket(100, pm.MaxWinProb)
	other, err := tk.Sign(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.l.Redeem(e.ctx, tk, other, rr)
	wantErr(t, err, pm.ErrWrongSigner)
	_, err = e.l.Redeem(e.ctx, tk, []byte("short"), rr)
	wantErr(t, err, pm.ErrWrongSigner)
	e.wantAccount(e.sender.Address, 1000, 0, 0, 0)
}

func TestRedeemWrongRand(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 1000)
	tk, sig, rr := e.ticket(100, pm.MaxWinProb)
	_, err := e.l.Redeem(e.ctx, tk, sig, new(big.Int).Add(rr, big.NewInt(1)))
	wantErr(t, err, ErrRecipientRand)
	wantErr(t, err, pm.ErrTicket)
	_, err = e.l.Redeem(e.ctx, tk, sig, nil)
	wantErr(t, err, ErrRecipientRand)
	e.wantAccount(e.sender.Address, 1000, 0, 0, 0)
}

func TestRedeemNotWinning(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 1000)
	tk, sig, rr := e.ticket(100, big.NewInt(1)) // wins with probability 2^-256
	_, err := e.l.Redeem(e.ctx, tk, sig, rr)
	wantErr(t, err, pm.ErrNotWinning)
	if used, _ := e.l.IsUsed(e.ctx, tk.Hash()); used {
		t.Fatal("a losing ticket was marked used")
	}
}

func TestRedeemBadTicket(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 1000)
	tk, sig, rr := e.ticket(100, pm.MaxWinProb)
	bad := tk
	bad.FaceValue = nil
	_, err := e.l.Redeem(e.ctx, bad, sig, rr)
	wantErr(t, err, pm.ErrTicket)
	bad = tk
	bad.Recipient = common.Address{}
	_, err = e.l.Redeem(e.ctx, bad, sig, rr)
	wantErr(t, err, pm.ErrTicket)
	zero, zsig, zrr := e.ticket(0, pm.MaxWinProb)
	_, err = e.l.Redeem(e.ctx, zero, zsig, zrr)
	wantErr(t, err, pm.ErrTicket)
}

func TestRedeemTwicePaysOnce(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 1000)
	tk, sig, rr := e.ticket(100, pm.MaxWinProb)
	if _, err := e.l.Redeem(e.ctx, tk, sig, rr); err != nil {
		t.Fatal(err)
	}
	paid, err := e.l.Redeem(e.ctx, tk, sig, rr)
	wantErr(t, err, pm.ErrTicketUsed)
	if paid != nil {
		t.Fatalf("second redemption paid %s", paid)
	}
	e.wantAccount(e.sender.Address, 900, 0, 0, 0)
	e.wantAccount(e.recipient, 0, 0, 0, 100)
	e.verify()
}

func TestRedeemExpiry(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 1000)
	old, oldSig, oldRand := e.ticket(100, pm.MaxWinProb)
	recent, recentSig, recentRand := e.ticket(100, pm.MaxWinProb)

	e.clock.Advance(testRoundBlocks * time.Second) // one round later: still valid
	if _, err := e.l.Redeem(e.ctx, recent, recentSig, recentRand); err != nil {
		t.Fatalf("ticket from the previous round: %v", err)
	}
	e.clock.Advance(testRoundBlocks * time.Second) // creationRound + 2 = current: expired
	_, err := e.l.Redeem(e.ctx, old, oldSig, oldRand)
	wantErr(t, err, pm.ErrTicketExpired)
	if used, _ := e.l.IsUsed(e.ctx, old.Hash()); used {
		t.Fatal("an expired ticket was marked used")
	}
	e.wantAccount(e.recipient, 0, 0, 0, 100)
}

func TestRedeemBadRound(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 1000)
	cur, _ := e.l.CurrentRound(e.ctx)
	if cur.Number != e.clock.Now().Unix()/testRoundBlocks || cur.BlockHash != e.l.RoundBlockHash(cur.Number) {
		t.Fatalf("CurrentRound %+v", cur)
	}
	cases := map[string]pm.Round{
		"unknown hash":        {Number: cur.Number, BlockHash: common.Hash(randInt(t).FillBytes(make([]byte, 32)))},
		"previous round hash": {Number: cur.Number, BlockHash: e.l.RoundBlockHash(cur.Number - 1)},
		"future round":        {Number: cur.Number + 1, BlockHash: e.l.RoundBlockHash(cur.Number + 1)},
		"no aux data":         {},
	}
	other, err := Open(filepath.Join(t.TempDir(), "other.db"), Options{Clock: e.clock.Now, RoundBlocks: testRoundBlocks})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cases["another ledger's hash"] = pm.Round{Number: cur.Number, BlockHash: other.RoundBlockHash(cur.Number)}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			tk, sig, rr := makeTicket(t, e.sender, e.recipient, big.NewInt(100), pm.MaxWinProb, &e.nonce, r)
			_, err := e.l.Redeem(e.ctx, tk, sig, rr)
			wantErr(t, err, pm.ErrBadRound)
		})
	}
	e.wantAccount(e.sender.Address, 1000, 0, 0, 0)
}

func TestRedeemInsufficientFunds(t *testing.T) {
	e := newEnv(t)
	tk, sig, rr := e.ticket(100, pm.MaxWinProb)
	_, err := e.l.Redeem(e.ctx, tk, sig, rr)
	wantErr(t, err, pm.ErrInsufficientFunds)
	if used, _ := e.l.IsUsed(e.ctx, tk.Hash()); used {
		t.Fatal("an unpaid ticket was marked used")
	}
	// Once the sender has funds, the same ticket redeems.
	e.fundReserve(e.sender.Address, 40)
	paid, err := e.l.Redeem(e.ctx, tk, sig, rr)
	if err != nil || paid.Int64() != 40 {
		t.Fatalf("Redeem after funding = %v, %v; want 40", paid, err)
	}
	e.verify()
}

func TestRedeemDepositThenReserve(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 60)
	e.fundReserve(e.sender.Address, 100)
	tk, sig, rr := e.ticket(100, pm.MaxWinProb)
	paid, err := e.l.Redeem(e.ctx, tk, sig, rr)
	if err != nil || paid.Int64() != 100 {
		t.Fatalf("Redeem = %v, %v; want 100", paid, err)
	}
	e.wantAccount(e.sender.Address, 0, 60, 0, 0)
	e.wantAccount(e.recipient, 0, 0, 0, 100)
	e.verify()
}

func TestRedeemPartial(t *testing.T) {
	e := newEnv(t)
	e.fundDeposit(e.sender.Address, 30)
	e.fundReserve(e.sender.Address, 20)
	tk, sig, rr := e.ticket(100, pm.MaxWinProb)
	paid, err := e.l.Redeem(e.ctx, tk, sig, rr)
	if err != nil || paid.Int64() != 50 {
		t.Fatalf("Redeem = %v, %v; want a partial 50", paid, err)
	}
	e.wantAccount(e.sender.Address, 0, 0, 0, 0)
	e.wantAccount(e.recipient, 0, 0, 0, 50)
	tk2, sig2, rr2 := e.ticket(100, pm.MaxWinProb)
	_, err = e.l.Redeem(e.ctx, tk2, sig2, rr2)
	wantErr(t, err, pm.ErrInsufficientFunds)
	e.verify()
}

func TestRedeemToSelf(t *testing.T) {
	e := newEnv(t)
	e.recipient = e.sender.Address
	e.fundDeposit(e.sender.Address, 100)
	tk, sig, rr := e.ticket(70, pm.MaxWinProb)
	if _, err := e.l.Redeem(e.ctx, tk, sig, rr); err != nil {
		t.Fatal(err)
	}
	e.wantAccount(e.sender.Address, 30, 0, 0, 70)
	e.verify()
}

// TestRedeemConcurrentHandles redeems one ticket from many goroutines on
// two Ledger handles on one file, as two processes would: it is paid
// exactly once.
func TestRedeemConcurrentHandles(t *testing.T) {
	e := newEnv(t)
	second := openAt(t, e.path, e.clock)
	e.fundDeposit(e.sender.Address, 1_000_000)
	tk, sig, rr := e.ticket(1000, pm.MaxWinProb)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, used := 0, 0
	for i := range 16 {
		l := e.l
		if i%2 == 1 {
			l = second
		}
		wg.Go(func() {
			_, err := l.Redeem(e.ctx, tk, sig, rr)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, pm.ErrTicketUsed):
				used++
			default:
				t.Errorf("Redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || used != 15 {
		t.Fatalf("%d redemptions succeeded and %d were refused as used, want 1 and 15", ok, used)
	}
	e.wantAccount(e.recipient, 0, 0, 0, 1000)

	// Distinct tickets through both handles at once all pay.
	tickets := make([][3]any, 20)
	for i := range tickets {
		tk, sig, rr := e.ticket(10, pm.MaxWinProb)
		tickets[i] = [3]any{tk, sig, rr}
	}
	for i, x := range tickets {
		l := e.l
		if i%2 == 1 {
			l = second
		}
		wg.Go(func() {
			if _, err := l.Redeem(e.ctx, x[0].(pm.Ticket), x[1].([]byte), x[2].(*big.Int)); err != nil {
				t.Errorf("Redeem: %v", err)
			}
		})
	}
	wg.Wait()
	e.wantAccount(e.recipient, 0, 0, 0, 1200)
	e.wantAccount(e.sender.Address, 1_000_000-1200, 0, 0, 0)
	e.verify()
}
