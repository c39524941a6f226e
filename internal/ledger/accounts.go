package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
)

// Errors of the ledger's accounts.
var (
	// ErrInsufficientBalance means a publisher's balance does not cover a
	// bill; nothing was charged.
	ErrInsufficientBalance = errors.New("insufficient publisher balance")
	// ErrNonceUsed means a publisher permit nonce was already used.
	ErrNonceUsed = errors.New("permit nonce already used")
	// ErrAmount means an amount is missing, negative, zero where it must
	// not be, or would take a balance past 2^256 − 1 wei.
	ErrAmount = errors.New("bad amount")
)

// History entry kinds.
const (
	KindDeposit       = "deposit"        // a sender's deposit was funded
	KindReserve       = "reserve"        // a sender's reserve was funded
	KindPublisherFund = "publisher-fund" // a publisher's balance was funded
	KindRedeem        = "redeem"         // a winning ticket paid its recipient
	KindBill          = "bill"           // a publisher's balance was billed
)

// Account is what the ledger holds for one address, in wei.
type Account struct {
	// Deposit and Reserve pay the tickets the address sends: the deposit
	// first, then the reserve.
	Deposit *big.Int
	Reserve *big.Int
	// Publisher is the balance the address's streams are billed from.
	Publisher *big.Int
	// Earnings is what redeemed tickets paid the address.
	Earnings *big.Int
}

// zeroAccount is an account with every balance zero.
func zeroAccount() Account {
	return Account{Deposit: new(big.Int), Reserve: new(big.Int), Publisher: new(big.Int), Earnings: new(big.Int)}
}

// Entry is one movement of money.
type Entry struct {
	// ID orders entries: a later commit has a larger ID.
	ID   int64
	Time time.Time
	// Kind is one of KindDeposit, KindReserve, KindPublisherFund,
	// KindRedeem and KindBill.
	Kind string
	// Account is the account the entry is about: the one funded or billed,
	// or for a redemption the recipient paid.
	Account common.Address
	// Counterparty is the sender that paid a redeemed ticket; zero
	// otherwise.
	Counterparty common.Address
	Amount       *big.Int
	// Ref is the ticket hash of a redemption or the key of a bill.
	Ref string
}

// maxUint256 is the largest balance an account may hold, as on chain.
var maxUint256 = pm.MaxWinProb

// checkAmount refuses nil, negative and (unless zero is allowed) zero
// amounts, and amounts wider than uint256.
func checkAmount(what string, v *big.Int, zeroOK bool) error {
	switch {
	case v == nil:
		return fmt.Errorf("%w: %s is missing", ErrAmount, what)
	case v.Sign() < 0:
		return fmt.Errorf("%w: %s is negative (%s wei)", ErrAmount, what, v)
	case v.Sign() == 0 && !zeroOK:
		return fmt.Errorf("%w: %s is zero", ErrAmount, what)
	case v.Cmp(maxUint256) > 0:
		return fmt.Errorf("%w: %s exceeds 2^256-1 wei", ErrAmount, what)
	}
	return nil
}

// FundDeposit adds amount wei to a sender's deposit.
func (l *Ledger) FundDeposit(ctx context.Context, sender common.Address, amount *big.Int) error {
	return l.fund(ctx, KindDeposit, sender, amount)
}

// FundReserve adds amount wei to a sender's reserve.
func (l *Ledger) FundReserve(ctx context.Context, sender common.Address, amount *big.Int) error {
	return l.fund(ctx, KindReserve, sender, amount)
}

// FundPublisher adds amount wei to a publisher's balance.
func (l *Ledger) FundPublisher(ctx context.Context, publisher common.Address, amount *big.Int) error {
	return l.fund(ctx, KindPublisherFund, publisher, amount)
}

// fund credits one of an account's balances and records it.
func (l *Ledger) fund(ctx context.Context, kind string, addr common.Address, amount *big.Int) error {
	if addr == (common.Address{}) {
		return fmt.Errorf("ledger: fund %s: zero address", kind)
	}
	if err := checkAmount("fund amount", amount, false); err != nil {
		return fmt.Errorf("ledger: fund %s of %s: %w", kind, addr, err)
	}
	now := l.clock()
	err := l.write(ctx, func(tx *sql.Tx) error {
		a, err := l.txAccount(ctx, tx, addr)
		if err != nil {
			return err
		}
		bal, total := a.Deposit, totalFundedDeposit
		switch kind {
		case KindReserve:
			bal, total = a.Reserve, totalFundedReserve
		case KindPublisherFund:
			bal, total = a.Publisher, totalFundedPublisher
		}
		bal.Add(bal, amount)
		if bal.Cmp(maxUint256) > 0 {
			return fmt.Errorf("ledger: fund %s of %s: %w: balance would exceed 2^256-1 wei", kind, addr, ErrAmount)
		}
		if err := l.txPutAccount(ctx, tx, addr, a); err != nil {
			return err
		}
		if err := l.txAddTotal(ctx, tx, total, amount); err != nil {
			return err
		}
		return l.txHistory(ctx, tx, now, kind, addr, common.Address{}, amount, "")
	})
	if err != nil {
		return err
	}
	l.log.Info("ledger funded", "kind", kind, "account", addr, "wei", amount)
	return nil
}

// Account returns an address's balances; all zero when it is unknown.
func (l *Ledger) Account(ctx context.Context, addr common.Address) (Account, error) {
	a, err := scanAccount(l.stmts.account.QueryRowContext(ctx, addrKey(addr)))
	if err != nil {
		return Account{}, fmt.Errorf("ledger: account %s: %w", addr, err)
	}
	return a, nil
}

// Bill debits amount wei from a publisher's balance, once per key (for
// example "stream/sequence"): billing a key already billed to this
// publisher charges nothing and returns the current balance. When the
// balance is short it charges nothing and returns the balance with
// ErrInsufficientBalance. It returns the balance left.
func (l *Ledger) Bill(ctx context.Context, publisher common.Address, key string, amount *big.Int) (remaining *big.Int, err error) {
	if publisher == (common.Address{}) {
		return nil, errors.New("ledger: bill: zero publisher address")
	}
	if key == "" {
		return nil, errors.New("ledger: bill: empty key")
	}
	if len(key) > 512 {
		return nil, fmt.Errorf("ledger: bill: key is %d bytes, at most 512", len(key))
	}
	if err := checkAmount("bill amount", amount, true); err != nil {
		return nil, fmt.Errorf("ledger: bill %q: %w", key, err)
	}
	now := l.clock()
	charged := false
	err = l.write(ctx, func(tx *sql.Tx) error {
		a, err := l.txAccount(ctx, tx, publisher)
		if err != nil {
			return err
		}
		var prev string
		err = tx.StmtContext(ctx, l.stmts.wBill).QueryRowContext(ctx, addrKey(publisher), key).Scan(&prev)
		if err == nil {
			remaining = a.Publisher // already billed: a no-op
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("ledger: bill %q: %w", key, err)
		}
		if a.Publisher.Cmp(amount) < 0 {
			remaining = a.Publisher
			return fmt.Errorf("%w: publisher %s: balance %s wei, bill %s wei", ErrInsufficientBalance, publisher, a.Publisher, amount)
		}
		a.Publisher.Sub(a.Publisher, amount)
		if err := l.txPutAccount(ctx, tx, publisher, a); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, l.stmts.wPutBill).ExecContext(ctx, addrKey(publisher), key, amount.String(), now.UnixNano()); err != nil {
			return fmt.Errorf("ledger: bill %q: %w", key, err)
		}
		if err := l.txAddTotal(ctx, tx, totalBilled, amount); err != nil {
			return err
		}
		remaining, charged = a.Publisher, true
		return l.txHistory(ctx, tx, now, KindBill, publisher, common.Address{}, amount, key)
	})
	if errors.Is(err, ErrInsufficientBalance) {
		return remaining, err
	}
	if err != nil {
		return nil, err
	}
	if charged {
		l.log.Debug("ledger billed", "publisher", publisher, "key", key, "wei", amount, "remaining", remaining)
	}
	return remaining, nil
}

// UsePermitNonce spends a publisher's permit nonce; it returns ErrNonceUsed
// when the nonce was spent before, by this or any earlier process.
func (l *Ledger) UsePermitNonce(ctx context.Context, publisher common.Address, nonce *big.Int) error {
	if err := checkAmount("nonce", nonce, true); err != nil {
		return fmt.Errorf("ledger: permit nonce: %w", err)
	}
	var n int64
	err := l.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, l.stmts.wNonce).ExecContext(ctx, addrKey(publisher), nonce.String(), l.clock().UnixNano())
		if err != nil {
			return fmt.Errorf("ledger: permit nonce: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: publisher %s, nonce %s", ErrNonceUsed, publisher, nonce)
	}
	return nil
}

// History returns up to limit entries (all when limit ≤ 0), newest first:
// every entry when addr is zero, else those naming addr as account or
// counterparty.
func (l *Ledger) History(ctx context.Context, addr common.Address, limit int) ([]Entry, error) {
	const cols = "SELECT id, at, kind, account, counterparty, amount, ref FROM history "
	if limit <= 0 {
		limit = -1
	}
	var rows *sql.Rows
	var err error
	if addr == (common.Address{}) {
		rows, err = l.rdb.QueryContext(ctx, cols+"ORDER BY id DESC LIMIT ?", limit)
	} else {
		// Each side reads at most limit entries from its index, newest
		// first, so the sort stays small however long the history is.
		rows, err = l.rdb.QueryContext(ctx, cols+`WHERE id IN (
			SELECT id FROM (SELECT id FROM history WHERE account = ?1 ORDER BY id DESC LIMIT ?2)
			UNION ALL
			SELECT id FROM (SELECT id FROM history WHERE counterparty = ?1 ORDER BY id DESC LIMIT ?2)
		) ORDER BY id DESC LIMIT ?2`, addrKey(addr), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: history: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at int64
		var acct, cp, amt string
		if err := rows.Scan(&e.ID, &at, &e.Kind, &acct, &cp, &amt, &e.Ref); err != nil {
			return nil, fmt.Errorf("ledger: history: %w", err)
		}
		e.Time = time.Unix(0, at)
		e.Account, e.Counterparty = common.HexToAddress(acct), common.HexToAddress(cp)
		if e.Amount, err = parseStored(amt); err != nil {
			return nil, fmt.Errorf("ledger: history entry %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: history: %w", err)
	}
	return out, nil
}

// scanAccount reads a row of deposit, reserve, publisher and earnings; no
// row is an all-zero account.
func scanAccount(row *sql.Row) (Account, error) {
	var s [4]string
	err := row.Scan(&s[0], &s[1], &s[2], &s[3])
	if errors.Is(err, sql.ErrNoRows) {
		return zeroAccount(), nil
	}
	if err != nil {
		return Account{}, err
	}
	var v [4]*big.Int
	for i := range s {
		if v[i], err = parseStored(s[i]); err != nil {
			return Account{}, err
		}
	}
	return Account{Deposit: v[0], Reserve: v[1], Publisher: v[2], Earnings: v[3]}, nil
}

// txAccount reads an account inside a write transaction.
func (l *Ledger) txAccount(ctx context.Context, tx *sql.Tx, addr common.Address) (Account, error) {
	a, err := scanAccount(tx.StmtContext(ctx, l.stmts.wAccount).QueryRowContext(ctx, addrKey(addr)))
	if err != nil {
		return Account{}, fmt.Errorf("ledger: account %s: %w", addr, err)
	}
	return a, nil
}

// txPutAccount writes an account inside a write transaction, refusing
// negative balances.
func (l *Ledger) txPutAccount(ctx context.Context, tx *sql.Tx, addr common.Address, a Account) error {
	for _, v := range []*big.Int{a.Deposit, a.Reserve, a.Publisher, a.Earnings} {
		if v.Sign() < 0 {
			return fmt.Errorf("ledger: account %s would go negative (%s wei)", addr, v)
		}
	}
	_, err := tx.StmtContext(ctx, l.stmts.wPutAccount).ExecContext(ctx, addrKey(addr),
		a.Deposit.String(), a.Reserve.String(), a.Publisher.String(), a.Earnings.String())
	if err != nil {
		return fmt.Errorf("ledger: write account %s: %w", addr, err)
	}
	return nil
}

// txAddTotal adds amount to a running total inside a write transaction.
func (l *Ledger) txAddTotal(ctx context.Context, tx *sql.Tx, name string, amount *big.Int) error {
	var s string
	if err := tx.StmtContext(ctx, l.stmts.wTotal).QueryRowContext(ctx, name).Scan(&s); err != nil {
		return fmt.Errorf("ledger: total %s: %w", name, err)
	}
	v, err := parseStored(s)
	if err != nil {
		return fmt.Errorf("ledger: total %s: %w", name, err)
	}
	v.Add(v, amount)
	if _, err := tx.StmtContext(ctx, l.stmts.wPutTotal).ExecContext(ctx, v.String(), name); err != nil {
		return fmt.Errorf("ledger: total %s: %w", name, err)
	}
	return nil
}

// txHistory records an entry inside a write transaction.
func (l *Ledger) txHistory(ctx context.Context, tx *sql.Tx, at time.Time, kind string, acct, cp common.Address, amount *big.Int, ref string) error {
	_, err := tx.StmtContext(ctx, l.stmts.wHistory).ExecContext(ctx, at.UnixNano(), kind, addrKey(acct), addrKey(cp), amount.String(), ref)
	if err != nil {
		return fmt.Errorf("ledger: history: %w", err)
	}
	return nil
}
