package sqlitex_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/sqlitex"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newFile names a file "things.db" in a fresh directory for package
// "thing", logging into the returned buffer.
func newFile(t testing.TB, sub ...string) (sqlitex.File, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	path := filepath.Join(append(append([]string{t.TempDir()}, sub...), "things.db")...)
	f, err := sqlitex.NewFile("thing", path, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return f, &buf
}

// openWriter opens f's writer, closed when the test ends.
func openWriter(t testing.TB, f sqlitex.File) *sql.DB {
	t.Helper()
	db, err := f.OpenWriter()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// scalar runs q on db and returns its one value as text.
func scalar(t testing.TB, db interface {
	QueryRow(string, ...any) *sql.Row
}, q string) string {
	t.Helper()
	var v string
	if err := db.QueryRow(q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func TestNewFile(t *testing.T) {
	if _, err := sqlitex.NewFile("thing", "", nil); err == nil || err.Error() != "thing: empty path" {
		t.Errorf("NewFile(\"\") = %v", err)
	}
	f, err := sqlitex.NewFile("thing", "rel/things.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(f.Path) || !strings.HasSuffix(f.Path, filepath.Join("rel", "things.db")) {
		t.Errorf("Path %q is not the absolute rel/things.db", f.Path)
	}
	if f.Name != "thing" || f.Log == nil {
		t.Errorf("File %+v: want Name thing and a logger", f)
	}
}

func TestOpenWriterCreatesPrivateFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX modes")
	}
	f, _ := newFile(t, "sub", "dir")
	openWriter(t, f)
	for path, want := range map[string]os.FileMode{f.Path: 0o600, filepath.Dir(f.Path): 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != want {
			t.Errorf("%s: mode %o, want %o", path, m, want)
		}
	}
}

// TestPragmas: the writer is WAL, synced and waits for locks; readers
// wait too but cannot write.
func TestPragmas(t *testing.T) {
	f, _ := newFile(t)
	w := openWriter(t, f)
	for q, want := range map[string]string{
		"PRAGMA journal_mode": "wal",
		"PRAGMA synchronous":  "2", // FULL
		"PRAGMA busy_timeout": "5000",
		"PRAGMA query_only":   "0",
	} {
		if got := scalar(t, w, q); got != want {
			t.Errorf("writer %s = %s, want %s", q, got, want)
		}
	}
	r, err := f.OpenReader(2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := scalar(t, r, "PRAGMA busy_timeout"); got != "5000" {
		t.Errorf("reader busy_timeout = %s", got)
	}
	if _, err := r.Exec("CREATE TABLE x (y)"); err == nil {
		t.Error("a reader created a table")
	}
}

func TestWriteCommitsOrRollsBack(t *testing.T) {
	f, log := newFile(t)
	db := openWriter(t, f)
	ctx := context.Background()
	if err := f.Write(ctx, db, exec("CREATE TABLE x (y)")); err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("stop")
	err := f.Write(ctx, db, func(tx *sql.Tx) error {
		if err := exec("INSERT INTO x VALUES (1)")(tx); err != nil {
			return err
		}
		return errStop
	})
	if err != errStop {
		t.Fatalf("Write = %v, want fn's error as it is", err)
	}
	if n := scalar(t, db, "SELECT count(*) FROM x"); n != "0" {
		t.Fatalf("%s rows after a failed Write", n)
	}
	// fn may end the transaction itself: that is no failed rollback.
	err = f.Write(ctx, db, func(tx *sql.Tx) error { tx.Rollback(); return errStop })
	if err != errStop || log.Len() != 0 {
		t.Fatalf("Write = %v, log %q", err, log)
	}
}

func TestWriteErrorsNameTheFile(t *testing.T) {
	f, _ := newFile(t)
	db := openWriter(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Write(ctx, db, exec("SELECT 1")); err == nil || !strings.HasPrefix(err.Error(), "thing: begin write: ") {
		t.Errorf("Write(cancelled) = %v", err)
	}
}

// TestWriteBeginsImmediate: the write lock is held from BEGIN, before fn
// writes anything, so what fn reads cannot change under it.
func TestWriteBeginsImmediate(t *testing.T) {
	f, _ := newFile(t)
	db := openWriter(t, f)
	other, err := sql.Open("sqlite", f.Path) // no busy timeout: fails at once
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1) // ROLLBACK on the connection BEGIN ran on
	err = f.Write(context.Background(), db, func(tx *sql.Tx) error {
		if _, err := other.Exec("BEGIN IMMEDIATE"); err == nil {
			other.Exec("ROLLBACK")
			t.Error("another connection took the write lock inside Write")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// exec is a Write fn that runs q.
func exec(q string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(q)
		return err
	}
}
