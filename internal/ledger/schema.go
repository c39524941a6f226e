package ledger

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sqlitex"
)

// schemaVersion is the PRAGMA user_version this code writes and reads.
const schemaVersion = 1

// schemaV1 is the ledger's schema. Addresses are 0x-prefixed lowercase
// hex, ticket hashes 0x-prefixed hex, amounts decimal wei, times unix
// nanoseconds.
var schemaV1 = []string{
	// meta: the ledger id and creation time.
	`CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value BLOB NOT NULL
	) WITHOUT ROWID`,
	// accounts: one row per address that was ever funded or paid.
	`CREATE TABLE accounts (
		address   TEXT PRIMARY KEY,
		deposit   TEXT NOT NULL DEFAULT '0',
		reserve   TEXT NOT NULL DEFAULT '0',
		publisher TEXT NOT NULL DEFAULT '0',
		earnings  TEXT NOT NULL DEFAULT '0'
	) WITHOUT ROWID`,
	// tickets: redeemed (used) tickets; the primary key makes a second
	// redemption of a hash impossible.
	`CREATE TABLE tickets (
		hash           TEXT PRIMARY KEY,
		sender         TEXT NOT NULL,
		recipient      TEXT NOT NULL,
		face_value     TEXT NOT NULL,
		paid           TEXT NOT NULL,
		creation_round INTEGER NOT NULL,
		redeemed_at    INTEGER NOT NULL
	) WITHOUT ROWID`,
	// bills: one row per (publisher, key) billed.
	`CREATE TABLE bills (
		publisher TEXT NOT NULL,
		key       TEXT NOT NULL,
		amount    TEXT NOT NULL,
		billed_at INTEGER NOT NULL,
		PRIMARY KEY (publisher, key)
	) WITHOUT ROWID`,
	// permit_nonces: publisher permit nonces already spent.
	`CREATE TABLE permit_nonces (
		publisher TEXT NOT NULL,
		nonce     TEXT NOT NULL,
		used_at   INTEGER NOT NULL,
		PRIMARY KEY (publisher, nonce)
	) WITHOUT ROWID`,
	// totals: running sums for the conservation check.
	`CREATE TABLE totals (
		name   TEXT PRIMARY KEY,
		amount TEXT NOT NULL
	) WITHOUT ROWID`,
	// history: every movement of money, in commit order.
	`CREATE TABLE history (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		at           INTEGER NOT NULL,
		kind         TEXT NOT NULL,
		account      TEXT NOT NULL,
		counterparty TEXT NOT NULL,
		amount       TEXT NOT NULL,
		ref          TEXT NOT NULL
	)`,
	`CREATE INDEX history_account ON history (account, id)`,
	`CREATE INDEX history_counterparty ON history (counterparty, id)`,
	`CREATE INDEX history_ref ON history (kind, ref)`,
}

// Names of the running totals.
const (
	totalFundedDeposit   = "funded_deposit"
	totalFundedReserve   = "funded_reserve"
	totalFundedPublisher = "funded_publisher"
	totalBilled          = "billed"
	totalRedeemed        = "redeemed"
)

var totalNames = []string{totalFundedDeposit, totalFundedReserve, totalFundedPublisher, totalBilled, totalRedeemed}

// migrate creates the schema in one transaction when the file is new, and
// reads the ledger id. It reports whether it created the schema.
func (l *Ledger) migrate(ctx context.Context) (created bool, err error) {
	created, err = l.file.Migrate(ctx, l.wdb, sqlitex.Schema{
		Kind:    "castnet ledger",
		Version: schemaVersion,
		Create:  schemaV1,
		Init:    l.initSchema,
	})
	if err != nil {
		return false, err
	}
	var id []byte
	if err := l.wdb.QueryRow("SELECT value FROM meta WHERE key = 'id'").Scan(&id); err != nil {
		return false, fmt.Errorf("ledger: read id: %w", err)
	}
	if len(id) != len(l.id) {
		return false, fmt.Errorf("ledger: %s: stored id is %d bytes, want %d", l.file.Path, len(id), len(l.id))
	}
	copy(l.id[:], id)
	return created, nil
}

// initSchema stores a new ledger's id and creation time, and its zero
// totals.
func (l *Ledger) initSchema(ctx context.Context, tx *sql.Tx) error {
	id, err := newID()
	if err != nil {
		return err
	}
	now := l.clock().UnixNano()
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('id', ?), ('created', ?)", id[:], now); err != nil {
		return fmt.Errorf("ledger: store id: %w", err)
	}
	for _, name := range totalNames {
		if _, err := tx.ExecContext(ctx, "INSERT INTO totals (name, amount) VALUES (?, '0')", name); err != nil {
			return fmt.Errorf("ledger: create totals: %w", err)
		}
	}
	return nil
}

// statements are the prepared statements on the hot paths.
type statements struct {
	// read pool
	sender  *sql.Stmt
	isUsed  *sql.Stmt
	account *sql.Stmt
	// write connection
	wAccount    *sql.Stmt
	wPutAccount *sql.Stmt
	wIsUsed     *sql.Stmt
	wTicket     *sql.Stmt
	wHistory    *sql.Stmt
	wTotal      *sql.Stmt
	wPutTotal   *sql.Stmt
	wBill       *sql.Stmt
	wPutBill    *sql.Stmt
	wNonce      *sql.Stmt
}

// prepare prepares the statements.
func (l *Ledger) prepare() error {
	const accountCols = "SELECT deposit, reserve, publisher, earnings FROM accounts WHERE address = ?"
	for _, p := range []struct {
		db  *sql.DB
		dst **sql.Stmt
		q   string
	}{
		{l.rdb, &l.stmts.sender, "SELECT deposit, reserve FROM accounts WHERE address = ?"},
		{l.rdb, &l.stmts.isUsed, "SELECT 1 FROM tickets WHERE hash = ?"},
		{l.rdb, &l.stmts.account, accountCols},
		{l.wdb, &l.stmts.wAccount, accountCols},
		{l.wdb, &l.stmts.wPutAccount, `INSERT INTO accounts (address, deposit, reserve, publisher, earnings) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (address) DO UPDATE SET deposit = excluded.deposit, reserve = excluded.reserve,
			publisher = excluded.publisher, earnings = excluded.earnings`},
		{l.wdb, &l.stmts.wIsUsed, "SELECT 1 FROM tickets WHERE hash = ?"},
		{l.wdb, &l.stmts.wTicket, `INSERT INTO tickets (hash, sender, recipient, face_value, paid, creation_round, redeemed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{l.wdb, &l.stmts.wHistory, `INSERT INTO history (at, kind, account, counterparty, amount, ref) VALUES (?, ?, ?, ?, ?, ?)`},
		{l.wdb, &l.stmts.wTotal, "SELECT amount FROM totals WHERE name = ?"},
		{l.wdb, &l.stmts.wPutTotal, "UPDATE totals SET amount = ? WHERE name = ?"},
		{l.wdb, &l.stmts.wBill, "SELECT amount FROM bills WHERE publisher = ? AND key = ?"},
		{l.wdb, &l.stmts.wPutBill, "INSERT INTO bills (publisher, key, amount, billed_at) VALUES (?, ?, ?, ?)"},
		{l.wdb, &l.stmts.wNonce, "INSERT INTO permit_nonces (publisher, nonce, used_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"},
	} {
		s, err := p.db.Prepare(p.q)
		if err != nil {
			return fmt.Errorf("ledger: prepare %.60q: %w", p.q, err)
		}
		*p.dst = s
	}
	return nil
}

// close closes the prepared statements.
func (s *statements) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.sender, s.isUsed, s.account, s.wAccount, s.wPutAccount, s.wIsUsed,
		s.wTicket, s.wHistory, s.wTotal, s.wPutTotal, s.wBill, s.wPutBill, s.wNonce} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// addrKey is how addresses are stored: 0x-prefixed lowercase hex.
func addrKey(a common.Address) string {
	return "0x" + hex.EncodeToString(a[:])
}

// parseStored reads a stored decimal amount, refusing anything that is
// not a non-negative integer: the file was damaged or edited.
func parseStored(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 {
		return nil, fmt.Errorf("corrupt stored amount %q", s)
	}
	return v, nil
}
