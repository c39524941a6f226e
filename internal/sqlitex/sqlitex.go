// Package sqlitex is the SQLite plumbing castnet's durable files share
// (the ledger, the winner store): how a file is created and opened, one
// write transaction, and the schema-version check that refuses a file
// that is not theirs.
//
// Every file is in WAL mode, its writer's commits are synced
// (synchronous=FULL) so a crash never loses one, and its writer begins
// every transaction IMMEDIATE: the write lock is taken up front, so what
// a transaction reads cannot change before it commits, and a write never
// has to upgrade a read lock (which fails with SQLITE_BUSY at once rather
// than waiting). Statements wait up to a busy timeout for a lock another
// connection, often another process, holds.
package sqlitex

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
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeout is how long a statement waits for a lock another connection
// holds before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// File is one SQLite file of castnet's, with the name its errors and log
// lines carry.
type File struct {
	// Name prefixes every error ("ledger: ...") and log line.
	Name string
	// Path is the file's absolute path.
	Path string
	// Log receives the file's log lines, with Name=Path on each.
	Log *slog.Logger
}

// NewFile names the file at path (made absolute) for package name; a nil
// log discards.
func NewFile(name, path string, log *slog.Logger) (File, error) {
	if path == "" {
		return File{}, fmt.Errorf("%s: empty path", name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return File{}, fmt.Errorf("%s: %s: %w", name, path, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return File{Name: name, Path: abs, Log: log.With(name, abs)}, nil
}

// OpenWriter creates the file (mode 0600) and its directories (0700) when
// they do not exist, and opens its single write connection: writers in
// this process queue in database/sql, writers in other processes wait in
// SQLite's busy handler.
func (f File) OpenWriter() (*sql.DB, error) {
	if err := f.create(); err != nil {
		return nil, err
	}
	return f.open(dsn(f.Path, true), 1)
}

// OpenReader opens a pool of conns query-only connections to the file,
// which OpenWriter must have created. WAL readers block neither each other
// nor the writer.
func (f File) OpenReader(conns int) (*sql.DB, error) {
	return f.open(dsn(f.Path, false), conns)
}

// open opens a pool of conns connections that are never closed for
// idleness or age: a new connection would have to set its pragmas again.
func (f File) open(dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// create makes the file with mode 0600 (SQLite gives the -wal and -shm
// files the database file's mode) and its directory. The descriptor is
// closed before SQLite opens the file, so no POSIX lock of SQLite's can be
// dropped by this close.
func (f File) create() error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	fd, err := os.OpenFile(f.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	if err := fd.Close(); err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	return nil
}

// dsn is the SQLite URI for the file at path: the writer's connection is
// in WAL mode, syncs every commit and begins transactions IMMEDIATE;
// readers are query-only.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	if writer {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:/C:/...
	}
	u := url.URL{Scheme: "file", OmitHost: true, Path: p, RawQuery: q.Encode()}
	return u.String()
}

// Write runs fn in one transaction on db, a connection from OpenWriter (so
// the transaction begins IMMEDIATE), and commits it when fn returns nil.
// fn's error is returned as it is, after the rollback.
func (f File) Write(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin write: %w", f.Name, err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			f.Log.Warn(f.Name+" rollback failed", "err", rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", f.Name, err)
	}
	return nil
}
