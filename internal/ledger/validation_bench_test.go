package ledger_test

import (
	"context"
	"math/big"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
)

// BenchmarkTicketValidationLedger is an orchestrator checking payments of
// one ticket each (pm.Recipient.Receive: recipientRand commitment, expiry
// by block and round, the ticket's signature recovered, nonce replay, the
// sender's locked funds) with the broker a real SQLite ledger file, the
// way `castnet orchestrator -ledger` runs. The baseline is the same checks
// with an in-memory broker: what is left is SQLite's cost. Of the broker
// calls Receive makes, CurrentBlock and CurrentRound read the ledger's
// clock; Sender is one indexed SQLite read per payment.
//
// Payments are written before the timer starts, with fresh ticket
// parameters every 500 tickets (a recipient takes at most 600 per set), at
// the e2e tests' price (3 wei per pixel) and the default face value, so no
// ticket wins and nothing is redeemed. Ledger and baseline take turns in
// batches of 256 tickets, so both see the same machine: seq checks one
// payment at a time, parallel checks from GOMAXPROCS goroutines. The goal
// is at least 1000 validations per second. Metrics: ledger-tickets/s and
// fake-tickets/s (tickets over the time each spent), and ledger/fake, the
// ratio of their times; ns/op counts one ticket of each.
func BenchmarkTicketValidationLedger(b *testing.B) {
	for _, mode := range []struct {
		name    string
		workers int
	}{{"seq", 1}, {"parallel", runtime.GOMAXPROCS(0)}} {
		b.Run(mode.name, func(b *testing.B) {
			led, fake := newValidation(b, true), newValidation(b, false)
			lp, fp := led.payments(b, b.N), fake.payments(b, b.N)
			const batch = 256
			var lt, ft time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i, start := 0, 0; start < b.N; i, start = i+1, start+batch {
				end := min(start+batch, b.N)
				if i%2 == 0 {
					lt += led.receiveAll(b, lp[start:end], mode.workers)
					ft += fake.receiveAll(b, fp[start:end], mode.workers)
				} else {
					ft += fake.receiveAll(b, fp[start:end], mode.workers)
					lt += led.receiveAll(b, lp[start:end], mode.workers)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/lt.Seconds(), "ledger-tickets/s")
			b.ReportMetric(float64(b.N)/ft.Seconds(), "fake-tickets/s")
			b.ReportMetric(lt.Seconds()/ft.Seconds(), "ledger/fake")
		})
	}
}

// receiveAll checks pays from workers goroutines and returns the time it
// took.
func (v *validation) receiveAll(b *testing.B, pays []pm.Payment, workers int) time.Duration {
	ctx := context.Background()
	t0 := time.Now()
	if workers == 1 {
		for _, p := range pays {
			v.receive(b, ctx, p)
		}
		return time.Since(t0)
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(pays)); i = next.Add(1) - 1 {
				v.receive(b, ctx, pays[i])
			}
		})
	}
	wg.Wait()
	return time.Since(t0)
}

// validation is a recipient and a sender sharing a broker.
type validation struct {
	rcpt *pm.Recipient
	snd  *pm.Sender
}

func newValidation(b *testing.B, real bool) *validation {
	b.Helper()
	orch, bcast := benchKey(b), benchKey(b)
	funds := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil) // 1 ETH
	var broker pm.Broker
	if real {
		l, err := ledger.Open(filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		ctx := context.Background()
		if err := l.FundDeposit(ctx, bcast.Address, funds); err != nil {
			b.Fatal(err)
		}
		if err := l.FundReserve(ctx, bcast.Address, funds); err != nil {
			b.Fatal(err)
		}
		broker = l
	} else {
		f := &memBroker{funds: map[common.Address]pm.SenderInfo{}}
		f.funds[bcast.Address] = pm.SenderInfo{Deposit: funds, Reserve: funds}
		broker = f
	}
	r, err := pm.NewRecipient(pm.RecipientConfig{Key: orch, Broker: broker, PricePerPixel: big.NewInt(3)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	s, err := pm.NewSender(pm.SenderConfig{Key: bcast, Broker: broker})
	if err != nil {
		b.Fatal(err)
	}
	return &validation{rcpt: r, snd: s}
}

// payments writes n payments of one ticket each.
func (v *validation) payments(b *testing.B, n int) []pm.Payment {
	b.Helper()
	ctx := context.Background()
	out := make([]pm.Payment, n)
	var (
		params pm.TicketParams
		exp    pm.ExpirationParams
		err    error
	)
	for i := range out {
		if i%500 == 0 {
			if params, exp, err = v.rcpt.Params(ctx, v.snd.Address()); err != nil {
				b.Fatal(err)
			}
		}
		v.snd.SetCredit(params.Recipient, nil)
		if out[i], err = v.snd.Pay(ctx, params, exp, params.EV()); err != nil {
			b.Fatal(err)
		}
		if len(out[i].Tickets) != 1 {
			b.Fatalf("payment has %d tickets, want 1", len(out[i].Tickets))
		}
	}
	return out
}

func (v *validation) receive(b *testing.B, ctx context.Context, p pm.Payment) {
	if got, err := v.rcpt.Receive(ctx, p); err != nil || got.Sign() <= 0 {
		b.Errorf("Receive = %v, %v", got, err)
	}
}

func benchKey(b *testing.B) sign.Key {
	b.Helper()
	k, err := sign.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// memBroker is the in-memory baseline: the ledger's clock-based block and
// round, and sender funds from a map.
type memBroker struct {
	mu    sync.RWMutex
	funds map[common.Address]pm.SenderInfo
}

func (m *memBroker) CurrentBlock(context.Context) (*big.Int, error) {
	return big.NewInt(time.Now().Unix()), nil
}

func (m *memBroker) CurrentRound(context.Context) (pm.Round, error) {
	n := time.Now().Unix() / ledger.DefaultRoundBlocks
	return pm.Round{Number: n, BlockHash: common.BigToHash(big.NewInt(n))}, nil
}

func (m *memBroker) Sender(_ context.Context, s common.Address) (pm.SenderInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	f := m.funds[s]
	if f.Deposit == nil {
		return pm.SenderInfo{Deposit: new(big.Int), Reserve: new(big.Int)}, nil
	}
	return pm.SenderInfo{Deposit: new(big.Int).Set(f.Deposit), Reserve: new(big.Int).Set(f.Reserve)}, nil
}

func (m *memBroker) IsUsed(context.Context, common.Hash) (bool, error) { return false, nil }

func (m *memBroker) Redeem(context.Context, pm.Ticket, []byte, *big.Int) (*big.Int, error) {
	return nil, pm.ErrNotWinning
}
