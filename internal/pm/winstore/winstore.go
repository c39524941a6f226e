// Package winstore is a pm.WinnerStore in a SQLite file: an orchestrator's
// winning tickets from the moment a payment is accepted until they are
// redeemed, so a restart or a crash loses none.
//
// The file is in WAL mode and every commit is synced (synchronous=FULL):
// when Add returns, the winners survive a kill or a power cut. One
// orchestrator uses one file; two sharing it would both redeem its
// winners, which the broker's one-use rule makes wasteful but harmless.
package winstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/castnet/castnet/internal/pm"
)

// FileName is the store's file name beside the ledger when none is named.
const FileName = "winners.db"

// busyTimeout is how long a statement waits for a lock another connection
// holds before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Options tune a Store; the zero value is usable.
type Options struct {
	// Log receives the store's log lines (default: discarded).
	Log *slog.Logger
	// Clock stamps when winners were added, which orders Pending
	// (default time.Now).
	Clock func() time.Time
}

// Store is an open winner store. It is safe for concurrent use.
type Store struct {
	path  string
	db    *sql.DB
	log   *slog.Logger
	clock func() time.Time

	closeOnce sync.Once
	closeErr  error
}

var _ pm.WinnerStore = (*Store)(nil)

// Open opens the store at path, creating the file (mode 0600: it holds
// the secret recipientRand of each winner), its parent directories (0700)
// and the schema when they do not exist.
func Open(path string, opt Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("winstore: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("winstore: %s: %w", path, err)
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if err := create(abs); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("winstore: %w", err)
	}
	// One connection: writes are a few a minute (winners are rare), and
	// it serialises them in this process without SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	s := &Store{path: abs, db: db, log: opt.Log.With("winstore", abs), clock: opt.Clock}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// create makes the file with mode 0600 (SQLite gives the -wal and -shm
// files the database file's mode) and its directory. The descriptor is
// closed before SQLite opens the file, so no POSIX lock of SQLite's can be
// dropped by this close.
func create(abs string) error {
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return fmt.Errorf("winstore: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("winstore: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("winstore: %w", err)
	}
	return nil
}

// dsn is the SQLite URI for the store: WAL, every commit synced,
// transactions begun IMMEDIATE so a write never upgrades a read lock.
func dsn(path string) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:/C:/...
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: p, RawQuery: q.Encode()}
	return u.String()
}

// Path is the store file's absolute path.
func (s *Store) Path() string { return s.path }

// Close closes the store. It is safe to call more than once; the store's
// methods fail after it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("winstore: close: %w", err)
		}
	})
	return s.closeErr
}

// Add commits winners in one synced transaction. A winner already stored
// keeps its row; only its attempts rise to the larger count.
func (s *Store) Add(ctx context.Context, ws []pm.Winner) error {
	if len(ws) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		now := s.clock().UnixNano()
		for i, w := range ws {
			// A nanosecond apart: Pending keeps the order of the batch.
			if err := insert(ctx, tx, w, now+int64(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Done deletes the winner with ticketHash, if stored.
func (s *Store) Done(ctx context.Context, ticketHash common.Hash) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM winners WHERE hash = ?", ticketHash.Hex()); err != nil {
		return fmt.Errorf("winstore: done %s: %w", ticketHash, err)
	}
	return nil
}

// Pending reads every stored winner, oldest first. A row that does not
// read back as the ticket its hash names fails the whole call: the file
// was damaged or edited, and skipping the row would drop earned money
// without a word.
func (s *Store) Pending(ctx context.Context) ([]pm.Winner, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+columns+" FROM winners ORDER BY added_at, hash")
	if err != nil {
		return nil, fmt.Errorf("winstore: pending: %w", err)
	}
	defer rows.Close()
	var out []pm.Winner
	for rows.Next() {
		w, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("winstore: %s: %w", s.path, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("winstore: pending: %w", err)
	}
	return out, nil
}

// write runs fn in one write transaction and commits it when fn returns
// nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("winstore: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			s.log.Warn("winstore rollback failed", "err", rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("winstore: commit: %w", err)
	}
	return nil
}
