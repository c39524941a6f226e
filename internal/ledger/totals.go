package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ErrInconsistent means Verify found the ledger file damaged or its
// books not balancing.
var ErrInconsistent = errors.New("ledger inconsistent")

// Totals are ledger-wide sums, in wei, read in one snapshot. Money enters
// only by funding and never leaves (there are no withdrawals yet), so
//
//	FundedDeposit + FundedReserve = Deposits + Reserves + Earnings
//	FundedPublisher               = Publisher + Billed
//	Redeemed                      = Earnings
type Totals struct {
	// Money funded in, by kind.
	FundedDeposit   *big.Int
	FundedReserve   *big.Int
	FundedPublisher *big.Int
	// Billed is what publishers were billed.
	Billed *big.Int
	// Redeemed is what tickets paid out of deposits and reserves.
	Redeemed *big.Int
	// Sums of the balances the accounts hold now.
	Deposits  *big.Int
	Reserves  *big.Int
	Publisher *big.Int
	Earnings  *big.Int
	// Accounts, Tickets and Bills count the rows: accounts known, tickets
	// redeemed, bills charged.
	Accounts, Tickets, Bills int64
}

// Funded is all the money funded in.
func (t Totals) Funded() *big.Int {
	v := new(big.Int).Add(t.FundedDeposit, t.FundedReserve)
	return v.Add(v, t.FundedPublisher)
}

// Held is where the funded money is now: deposits + reserves + earnings
// + publisher balances + billed.
func (t Totals) Held() *big.Int {
	v := new(big.Int).Add(t.Deposits, t.Reserves)
	v.Add(v, t.Earnings)
	v.Add(v, t.Publisher)
	return v.Add(v, t.Billed)
}

// Check reports the conservation equations that do not hold.
func (t Totals) Check() error {
	var bad []string
	if l, r := new(big.Int).Add(t.FundedDeposit, t.FundedReserve), new(big.Int).Add(new(big.Int).Add(t.Deposits, t.Reserves), t.Earnings); l.Cmp(r) != 0 {
		bad = append(bad, fmt.Sprintf("sender funding %s wei != deposits + reserves + earnings %s wei", l, r))
	}
	if r := new(big.Int).Add(t.Publisher, t.Billed); t.FundedPublisher.Cmp(r) != 0 {
		bad = append(bad, fmt.Sprintf("publisher funding %s wei != publisher balances + billed %s wei", t.FundedPublisher, r))
	}
	if t.Redeemed.Cmp(t.Earnings) != 0 {
		bad = append(bad, fmt.Sprintf("redeemed %s wei != earnings %s wei", t.Redeemed, t.Earnings))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInconsistent, strings.Join(bad, "; "))
	}
	return nil
}

// Totals sums the ledger in one snapshot.
func (l *Ledger) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	err := l.read(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = readTotals(ctx, tx)
		return err
	})
	return t, err
}

// readTotals reads the running totals and sums the accounts.
func readTotals(ctx context.Context, tx *sql.Tx) (Totals, error) {
	t := Totals{}
	named := map[string]**big.Int{
		totalFundedDeposit: &t.FundedDeposit, totalFundedReserve: &t.FundedReserve,
		totalFundedPublisher: &t.FundedPublisher, totalBilled: &t.Billed, totalRedeemed: &t.Redeemed,
	}
	rows, err := tx.QueryContext(ctx, "SELECT name, amount FROM totals")
	if err != nil {
		return t, fmt.Errorf("ledger: totals: %w", err)
	}
	for rows.Next() {
		var name, s string
		if err := rows.Scan(&name, &s); err != nil {
			rows.Close()
			return t, fmt.Errorf("ledger: totals: %w", err)
		}
		if dst := named[name]; dst != nil {
			if *dst, err = parseStored(s); err != nil {
				rows.Close()
				return t, fmt.Errorf("ledger: total %s: %w", name, err)
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("ledger: totals: %w", err)
	}
	for name, dst := range named {
		if *dst == nil {
			return t, fmt.Errorf("%w: total %s is missing", ErrInconsistent, name)
		}
	}

	t.Deposits, t.Reserves, t.Publisher, t.Earnings = new(big.Int), new(big.Int), new(big.Int), new(big.Int)
	rows, err = tx.QueryContext(ctx, "SELECT address, deposit, reserve, publisher, earnings FROM accounts")
	if err != nil {
		return t, fmt.Errorf("ledger: accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var addr string
		var s [4]string
		if err := rows.Scan(&addr, &s[0], &s[1], &s[2], &s[3]); err != nil {
			return t, fmt.Errorf("ledger: accounts: %w", err)
		}
		for i, sum := range []*big.Int{t.Deposits, t.Reserves, t.Publisher, t.Earnings} {
			v, err := parseStored(s[i])
			if err != nil {
				return t, fmt.Errorf("ledger: account %s: %w", addr, err)
			}
			sum.Add(sum, v)
		}
		t.Accounts++
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("ledger: accounts: %w", err)
	}
	for _, c := range []struct {
		q   string
		dst *int64
	}{{"SELECT count(*) FROM tickets", &t.Tickets}, {"SELECT count(*) FROM bills", &t.Bills}} {
		if err := tx.QueryRowContext(ctx, c.q).Scan(c.dst); err != nil {
			return t, fmt.Errorf("ledger: count: %w", err)
		}
	}
	return t, nil
}

// Verify checks the whole ledger in one snapshot: SQLite's integrity
// check, the conservation of money (Totals.Check), that every redeemed
// ticket has exactly one redeem history entry and every redeem entry a
// ticket, the same for bills, and that the history adds up to the
// running totals. It returns ErrInconsistent (wrapped, with what failed)
// when something does not hold. It reads every row: for tests and
// operators, not hot paths.
func (l *Ledger) Verify(ctx context.Context) error {
	return l.read(ctx, func(tx *sql.Tx) error {
		var ok string
		if err := tx.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&ok); err != nil {
			return fmt.Errorf("ledger: integrity check: %w", err)
		}
		if ok != "ok" {
			return fmt.Errorf("%w: integrity check: %s", ErrInconsistent, ok)
		}
		t, err := readTotals(ctx, tx)
		if err != nil {
			return err
		}
		if err := t.Check(); err != nil {
			return err
		}
		for _, c := range []struct{ what, q string }{
			{"redeemed tickets without exactly one redeem entry",
				`SELECT count(*) FROM tickets t WHERE (SELECT count(*) FROM history h WHERE h.kind = 'redeem' AND h.ref = t.hash) != 1`},
			{"redeem entries without a redeemed ticket",
				`SELECT count(*) FROM history h WHERE h.kind = 'redeem' AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.hash = h.ref)`},
			{"redeem entries that disagree with their ticket",
				`SELECT count(*) FROM history h JOIN tickets t ON t.hash = h.ref WHERE h.kind = 'redeem' AND
				 (h.amount != t.paid OR h.account != t.recipient OR h.counterparty != t.sender)`},
			{"bills without exactly one bill entry",
				`SELECT count(*) FROM bills b WHERE (SELECT count(*) FROM history h WHERE h.kind = 'bill' AND h.ref = b.key AND h.account = b.publisher) != 1`},
			{"bill entries without a bill",
				`SELECT count(*) FROM history h WHERE h.kind = 'bill' AND NOT EXISTS (SELECT 1 FROM bills b WHERE b.key = h.ref AND b.publisher = h.account)`},
		} {
			var n int64
			if err := tx.QueryRowContext(ctx, c.q).Scan(&n); err != nil {
				return fmt.Errorf("ledger: verify: %w", err)
			}
			if n != 0 {
				return fmt.Errorf("%w: %d %s", ErrInconsistent, n, c.what)
			}
		}
		return verifyHistorySums(ctx, tx, t)
	})
}

// verifyHistorySums checks that the history entries of each kind add up
// to the running total of that kind.
func verifyHistorySums(ctx context.Context, tx *sql.Tx, t Totals) error {
	want := map[string]*big.Int{
		KindDeposit: t.FundedDeposit, KindReserve: t.FundedReserve, KindPublisherFund: t.FundedPublisher,
		KindRedeem: t.Redeemed, KindBill: t.Billed,
	}
	got := map[string]*big.Int{}
	rows, err := tx.QueryContext(ctx, "SELECT kind, amount FROM history")
	if err != nil {
		return fmt.Errorf("ledger: verify: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, s string
		if err := rows.Scan(&kind, &s); err != nil {
			return fmt.Errorf("ledger: verify: %w", err)
		}
		v, err := parseStored(s)
		if err != nil {
			return fmt.Errorf("%w: history: %v", ErrInconsistent, err)
		}
		if want[kind] == nil {
			return fmt.Errorf("%w: history entry of unknown kind %q", ErrInconsistent, kind)
		}
		if got[kind] == nil {
			got[kind] = new(big.Int)
		}
		got[kind].Add(got[kind], v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("ledger: verify: %w", err)
	}
	for kind, w := range want {
		g := got[kind]
		if g == nil {
			g = new(big.Int)
		}
		if g.Cmp(w) != 0 {
			return fmt.Errorf("%w: %s entries add up to %s wei, running total is %s wei", ErrInconsistent, kind, g, w)
		}
	}
	return nil
}
