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
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sqlitex"
)

// FileName is the store's file name beside the ledger when none is named.
const FileName = "winners.db"

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
	file  sqlitex.File
	db    *sql.DB
	clock func() time.Time

	closeOnce sync.Once
	closeErr  error
}

var _ pm.WinnerStore = (*Store)(nil)

// Open opens the store at path, creating the file (mode 0600: it holds
// the secret recipientRand of each winner), its parent directories (0700)
// and the schema when they do not exist.
func Open(path string, opt Options) (*Store, error) {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	f, err := sqlitex.NewFile("winstore", path, opt.Log)
	if err != nil {
		return nil, err
	}
	// One connection: writes are a few a minute (winners are rare), and
	// it serialises them in this process without SQLITE_BUSY.
	db, err := f.OpenWriter()
	if err != nil {
		return nil, err
	}
	s := &Store{file: f, db: db, clock: opt.Clock}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the store file's absolute path.
func (s *Store) Path() string { return s.file.Path }

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
			return nil, fmt.Errorf("winstore: %s: %w", s.file.Path, err)
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
	return s.file.Write(ctx, s.db, fn)
}
