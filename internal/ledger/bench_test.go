package ledger

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
)

// opsPerSecond reports the benchmark's rate.
func opsPerSecond(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// benchEnv is a ledger with a funded sender and n redeemed tickets.
func benchEnv(b *testing.B, n int) (*env, []common.Hash) {
	e := newEnv(b)
	e.fundDeposit(e.sender.Address, 1<<60)
	hashes := make([]common.Hash, n)
	for i := range hashes {
		tk, sig, rr := e.ticket(1, pm.MaxWinProb)
		if _, err := e.l.Redeem(e.ctx, tk, sig, rr); err != nil {
			b.Fatal(err)
		}
		hashes[i] = tk.Hash()
	}
	return e, hashes
}

// BenchmarkSender is the orchestrator's per-ticket read of the sender's
// funds, from parallel goroutines.
func BenchmarkSender(b *testing.B) {
	e, _ := benchEnv(b, 20)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			si, err := e.l.Sender(e.ctx, e.sender.Address)
			if err != nil || si.Deposit.Sign() <= 0 {
				b.Errorf("Sender = %+v, %v", si, err)
				return
			}
		}
	})
	opsPerSecond(b)
}

// BenchmarkIsUsed is the orchestrator's per-ticket replay check, half
// hits and half misses, from parallel goroutines.
func BenchmarkIsUsed(b *testing.B) {
	e, hashes := benchEnv(b, 200)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h := hashes[i%len(hashes)]
			if i%2 == 1 {
				h[0] ^= 0xff // not redeemed
			}
			if _, err := e.l.IsUsed(e.ctx, h); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	opsPerSecond(b)
}

// BenchmarkRedeem redeems winning tickets one after another: signature
// recovery plus one synced write transaction each. Tickets are signed
// before the timer starts.
func BenchmarkRedeem(b *testing.B) {
	e, _ := benchEnv(b, 0)
	type ticket struct {
		t   pm.Ticket
		sig []byte
		rr  *big.Int
	}
	ts := make([]ticket, b.N)
	for i := range ts {
		ts[i].t, ts[i].sig, ts[i].rr = e.ticket(1, pm.MaxWinProb)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := e.l.Redeem(e.ctx, ts[i].t, ts[i].sig, ts[i].rr); err != nil {
			b.Fatal(err)
		}
	}
	opsPerSecond(b)
}
