package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/orchestrator"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/pm/winstore"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/trust"
)

// playMoney is what dev deposits for its throwaway broadcaster when its
// orchestrator charges: 1 ETH of deposit and 1 of reserve, in its own
// ledger, so tickets flow from the first segment.
var playMoney = big.NewInt(1_000_000_000_000_000_000)

// ledgerAccounts is the ledger as the broadcaster's trust sees it.
type ledgerAccounts struct{ l *ledger.Ledger }

func (a ledgerAccounts) PublisherBalance(ctx context.Context, p common.Address) (*big.Int, error) {
	acct, err := a.l.Account(ctx, p)
	if err != nil {
		return nil, err
	}
	return acct.Publisher, nil
}

func (a ledgerAccounts) UsePermitNonce(ctx context.Context, p common.Address, nonce *big.Int) error {
	err := a.l.UsePermitNonce(ctx, p, nonce)
	if errors.Is(err, ledger.ErrNonceUsed) {
		return fmt.Errorf("%w: %w", trust.ErrNonceUsed, err)
	}
	return err
}

func (a ledgerAccounts) Bill(ctx context.Context, p common.Address, key string, amount *big.Int) (*big.Int, error) {
	left, err := a.l.Bill(ctx, p, key, amount)
	if errors.Is(err, ledger.ErrInsufficientBalance) {
		return left, fmt.Errorf("%w: %w", trust.ErrInsufficientBalance, err)
	}
	return left, err
}

// openLedger opens (creating) the SQLite ledger at path.
func openLedger(path string, log *slog.Logger) (*ledger.Ledger, error) {
	l, err := ledger.Open(path, ledger.Options{Log: log.With("component", "ledger")})
	if err != nil {
		return nil, err
	}
	log.Info("ledger open", "path", path)
	return l, nil
}

// sellerTrust is an orchestrator's trust: its gate, and when it charges,
// the ticket recipient and the ticket parameters /api/info hands out.
type sellerTrust struct {
	gate      *trust.Orchestrator
	recipient *pm.Recipient
	winners   *winstore.Store
}

// sellerConfig is what an orchestrator's trust is built from.
type sellerConfig struct {
	key       sign.Key
	domain    sign.Domain
	price     *big.Int
	faceValue *big.Int       // nil: pm's default
	ledger    *ledger.Ledger // checks and redeems the tickets
	winners   string         // the file winning tickets are kept in until redeemed
	segment   time.Duration
}

// newSellerTrust builds an orchestrator's gate. With a price, tickets are
// checked against (and redeemed on) the ledger, and every winner is
// committed to the winners file before its payment is accepted.
func newSellerTrust(c sellerConfig, log *slog.Logger) (*sellerTrust, error) {
	st := &sellerTrust{}
	if c.price != nil && c.price.Sign() > 0 {
		if err := st.charge(c, log); err != nil {
			return nil, err
		}
	}
	st.gate = trust.NewOrchestrator(trust.OrchestratorConfig{Key: c.key, Domain: c.domain, Recipient: st.recipient,
		Segment: c.segment, Logger: log.With("component", "trust")})
	return st, nil
}

// charge opens the winners file and starts the ticket recipient on it,
// which queues the winners an earlier run left there.
func (st *sellerTrust) charge(c sellerConfig, log *slog.Logger) error {
	store, err := winstore.Open(c.winners, winstore.Options{Log: log.With("component", "winners")})
	if err != nil {
		return err
	}
	r, err := pm.NewRecipient(pm.RecipientConfig{Key: c.key, Broker: c.ledger, Store: store, PricePerPixel: c.price,
		FaceValue: c.faceValue, Log: log.With("component", "tickets")})
	if err != nil {
		store.Close()
		return err
	}
	log.Info("winning tickets are kept until redeemed", "path", store.Path())
	st.recipient, st.winners = r, store
	return nil
}

// config fills an orchestrator's trust fields.
func (st *sellerTrust) config(c orchestrator.Config, addr common.Address) orchestrator.Config {
	c.Address, c.Gate, c.Payments = addr, st.gate, st.gate.Payments
	if st.recipient != nil {
		c.Params, c.Credit = st.recipient.Params, st.recipient.Balance
	}
	return c
}

// close stops the recipient's redemptions, then closes the winners file
// with what is left to redeem in it.
func (st *sellerTrust) close() error {
	if st.recipient == nil {
		return nil
	}
	return errors.Join(st.recipient.Close(), st.winners.Close())
}

// fundPlayMoney gives dev's throwaway broadcaster a deposit and reserve
// when it has none, and says so.
func fundPlayMoney(led *ledger.Ledger, who common.Address, log *slog.Logger) error {
	ctx := context.Background()
	acct, err := led.Account(ctx, who)
	if err != nil {
		return err
	}
	if acct.Deposit.Sign() > 0 {
		return nil
	}
	if err := led.FundDeposit(ctx, who, playMoney); err != nil {
		return err
	}
	if err := led.FundReserve(ctx, who, playMoney); err != nil {
		return err
	}
	log.Info("dev: funded the broadcaster with play money in its ledger so it can pay its orchestrator",
		"broadcaster", who.Hex(), "deposit_wei", playMoney, "reserve_wei", playMoney)
	return nil
}
