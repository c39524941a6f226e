// Package ledger is castnet's durable embedded ledger: a SQLite file that
// stands in for Livepeer's TicketBroker contract (sender deposits and
// reserves, redeemed tickets, orchestrator earnings) and also keeps
// publisher balances, per-segment bills and used permit nonces.
//
// Several castnet processes on one machine may share one ledger file (a
// broadcaster and an orchestrator both open it): the file is in WAL mode,
// every write is one BEGIN IMMEDIATE transaction that waits for the write
// lock up to a busy timeout, and commits are synced (synchronous=FULL) so a
// crash never loses a committed payment nor pays a ticket twice.
//
// Amounts are wei as *big.Int, stored as decimal text (uint256 does not fit
// SQLite's 64-bit integers); all arithmetic is done in Go inside the write
// transaction that reads the balances.
package ledger

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sqlitex"
)

// DefaultPath is the ledger file castnet uses when none is named: in the
// default data directory.
const DefaultPath = "./castnet-data/ledger.db"

// DefaultRoundBlocks is how many blocks (seconds) a round lasts unless
// Options.RoundBlocks says otherwise.
const DefaultRoundBlocks = 3600

// readConns is the size of the read-only connection pool serving Sender,
// IsUsed, Account and History; WAL readers do not block each other nor the
// writer.
const readConns = 4

// Options tune a Ledger; the zero value is usable.
type Options struct {
	// Clock is the time blocks and rounds are read from, and history
	// entries are stamped with (default time.Now).
	Clock func() time.Time
	// RoundBlocks is the length of a round in blocks, that is in seconds
	// (default DefaultRoundBlocks).
	RoundBlocks int64
	// Log receives the ledger's log lines (default: discarded).
	Log *slog.Logger
}

// Ledger is an open ledger file. It is safe for concurrent use, and other
// processes may use the same file at the same time.
type Ledger struct {
	file        sqlitex.File
	id          [32]byte
	clock       func() time.Time
	roundBlocks int64
	log         *slog.Logger

	// wdb holds the single write connection (sqlitex.File.OpenWriter):
	// every transaction on it begins IMMEDIATE, so writers in this
	// process queue in database/sql and writers in other processes wait
	// in SQLite's busy handler.
	wdb *sql.DB
	// rdb is a pool of query-only connections.
	rdb *sql.DB

	stmts     statements
	closeOnce sync.Once
	closeErr  error
}

var _ pm.Broker = (*Ledger)(nil)

// Open opens the ledger at path, creating the file (mode 0600), its parent
// directories (0700) and the schema when they do not exist.
func Open(path string, opt Options) (*Ledger, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	f, err := sqlitex.NewFile("ledger", path, opt.Log)
	if err != nil {
		return nil, err
	}
	l := &Ledger{file: f, clock: opt.Clock, roundBlocks: opt.RoundBlocks, log: f.Log}
	created, err := l.open()
	if err != nil {
		l.Close()
		return nil, err
	}
	l.log.Info("ledger open", "id", common.Hash(l.id).Hex(), "created", created, "round_blocks", l.roundBlocks)
	return l, nil
}

// withDefaults fills in the zero options and checks the others.
func (opt Options) withDefaults() (Options, error) {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.RoundBlocks == 0 {
		opt.RoundBlocks = DefaultRoundBlocks
	}
	if opt.RoundBlocks < 0 {
		return opt, fmt.Errorf("ledger: RoundBlocks must be positive, got %d", opt.RoundBlocks)
	}
	return opt, nil
}

// open opens the write connection, migrates the file, then opens the read
// pool and prepares the statements; Close undoes what it did.
func (l *Ledger) open() (created bool, err error) {
	if l.wdb, err = l.file.OpenWriter(); err != nil {
		return false, err
	}
	if created, err = l.migrate(context.Background()); err != nil {
		return false, err
	}
	if l.rdb, err = l.file.OpenReader(readConns); err != nil {
		return false, err
	}
	return created, l.prepare()
}

// Path is the ledger file's absolute path.
func (l *Ledger) Path() string { return l.file.Path }

// ID is the ledger's random identity, fixed when the file was created; it
// seeds the round block hashes.
func (l *Ledger) ID() common.Hash { return l.id }

// Close closes the ledger's connections. It is safe to call more than once.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		errs := []error{l.stmts.close()}
		if l.rdb != nil {
			errs = append(errs, l.rdb.Close())
		}
		if l.wdb != nil {
			errs = append(errs, l.wdb.Close())
		}
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("ledger: close: %w", err)
		}
	})
	return l.closeErr
}

// CurrentBlock is the current block: the clock's unix second.
func (l *Ledger) CurrentBlock(context.Context) (*big.Int, error) {
	return big.NewInt(l.clock().Unix()), nil
}

// CurrentRound is the round new tickets must name and its block hash.
func (l *Ledger) CurrentRound(context.Context) (pm.Round, error) {
	n := l.roundAt(l.clock())
	return pm.Round{Number: n, BlockHash: l.RoundBlockHash(n)}, nil
}

// roundAt is the round a moment falls in: block / RoundBlocks.
func (l *Ledger) roundAt(t time.Time) int64 {
	b := t.Unix()
	if b < 0 {
		return 0
	}
	return b / l.roundBlocks
}

// RoundBlockHash is round n's block hash: keccak256("castnet-ledger-round"
// ‖ ledger id ‖ pad32(n)). It is unpredictable to anyone who has not seen
// the ledger, and different for every ledger file.
func (l *Ledger) RoundBlockHash(n int64) common.Hash {
	var r [32]byte
	big.NewInt(n).FillBytes(r[:])
	return crypto.Keccak256Hash([]byte("castnet-ledger-round"), l.id[:], r[:])
}

// Sender returns a sender's deposit and reserve, zero when unknown. It is
// one indexed read.
func (l *Ledger) Sender(ctx context.Context, sender common.Address) (pm.SenderInfo, error) {
	var dep, res string
	err := l.stmts.sender.QueryRowContext(ctx, addrKey(sender)).Scan(&dep, &res)
	if errors.Is(err, sql.ErrNoRows) {
		return pm.SenderInfo{Deposit: new(big.Int), Reserve: new(big.Int)}, nil
	}
	if err != nil {
		return pm.SenderInfo{}, fmt.Errorf("ledger: sender %s: %w", sender, err)
	}
	d, err := parseStored(dep)
	if err != nil {
		return pm.SenderInfo{}, fmt.Errorf("ledger: sender %s deposit: %w", sender, err)
	}
	r, err := parseStored(res)
	if err != nil {
		return pm.SenderInfo{}, fmt.Errorf("ledger: sender %s reserve: %w", sender, err)
	}
	return pm.SenderInfo{Deposit: d, Reserve: r}, nil
}

// IsUsed reports whether a ticket hash was redeemed. It is one indexed
// read.
func (l *Ledger) IsUsed(ctx context.Context, ticketHash common.Hash) (bool, error) {
	var one int
	err := l.stmts.isUsed.QueryRowContext(ctx, ticketHash.Hex()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: ticket %s: %w", ticketHash, err)
	}
	return true, nil
}

// write runs fn in one write transaction (BEGIN IMMEDIATE: the write lock
// is taken up front, so the balances fn reads cannot change before it
// commits) and commits it when fn returns nil.
func (l *Ledger) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return l.file.Write(ctx, l.wdb, fn)
}

// read runs fn in one read transaction on a query-only connection, so
// every query fn makes sees the same snapshot.
func (l *Ledger) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := l.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("ledger: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// newID is a fresh random ledger id.
func newID() ([32]byte, error) {
	var id [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("ledger: random id: %w", err)
	}
	return id, nil
}
