package sqlitex

import (
	"context"
	"database/sql"
	"fmt"
)

// Schema is what a file's PRAGMA user_version (and application_id) must
// say, and how an empty file gets there.
type Schema struct {
	// Kind is what the file is, as the refusal of another database names
	// it: "castnet ledger".
	Kind string
	// Hint ends that refusal when a likely mistake is worth naming: "is
	// it the ledger?" (default none).
	Hint string
	// ApplicationID is the file's PRAGMA application_id, which marks it
	// as Kind so that another SQLite file (even one of castnet's) is not
	// taken for one. 0 is none: the pragma is then neither set nor read.
	ApplicationID int32
	// Version is the PRAGMA user_version this code writes and reads; it
	// must be positive.
	Version int
	// Create are the statements that make the schema in an empty file.
	Create []string
	// Init, when set, runs in the creating transaction after Create: the
	// rows a new file starts with, such as the ledger's id.
	Init func(ctx context.Context, tx *sql.Tx) error
}

// Migrate creates s in one transaction on db (a connection from
// OpenWriter) when the file is empty, and otherwise checks that the file
// is s: it refuses a newer or unknown schema version, another
// application's file and a non-empty SQLite database with no version. It
// reports whether it created the schema.
func (f File) Migrate(ctx context.Context, db *sql.DB, s Schema) (created bool, err error) {
	if s.Version <= 0 {
		return false, fmt.Errorf("%s: schema version %d is not positive", f.Name, s.Version)
	}
	err = f.Write(ctx, db, func(tx *sql.Tx) error {
		current, err := f.check(ctx, tx, s)
		if err != nil || current {
			return err
		}
		created = true
		return f.build(ctx, tx, s)
	})
	return created && err == nil, err
}

// check reports whether the file already holds s, and nil and false when
// it is empty, ready for s.
func (f File) check(ctx context.Context, tx *sql.Tx, s Schema) (current bool, err error) {
	app, v, err := f.pragmas(ctx, tx, s)
	if err != nil {
		return false, err
	}
	switch {
	case app != s.ApplicationID && (app != 0 || v != 0):
		return false, f.foreign(s, fmt.Sprintf("application id %#x, want %#x", app, s.ApplicationID))
	case v > s.Version:
		return false, fmt.Errorf("%s: %s has schema version %d, newer than this castnet understands (%d)", f.Name, f.Path, v, s.Version)
	case v == s.Version:
		return true, nil
	case v != 0:
		return false, fmt.Errorf("%s: %s has unknown schema version %d", f.Name, f.Path, v)
	}
	return false, f.empty(ctx, tx, s)
}

// pragmas reads the file's application id (when s has one) and schema
// version.
func (f File) pragmas(ctx context.Context, tx *sql.Tx, s Schema) (app int32, v int, err error) {
	if s.ApplicationID != 0 {
		if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
			return 0, 0, fmt.Errorf("%s: read application id: %w", f.Name, err)
		}
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, 0, fmt.Errorf("%s: read schema version: %w", f.Name, err)
	}
	return app, v, nil
}

// empty refuses a file with no version that holds schema objects: some
// other SQLite database.
func (f File) empty(ctx context.Context, tx *sql.Tx, s Schema) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("%s: inspect %s: %w", f.Name, f.Path, err)
	}
	if n != 0 {
		return f.foreign(s, fmt.Sprintf("it has %d schema objects and no version", n))
	}
	return nil
}

// foreign is the refusal of a file that is a SQLite database but not s.
func (f File) foreign(s Schema, why string) error {
	if s.Hint != "" {
		why += "; " + s.Hint
	}
	return fmt.Errorf("%s: %s is a SQLite database but not a %s (%s)", f.Name, f.Path, s.Kind, why)
}

// build makes s in the empty file and sets its application id and
// version; Migrate's transaction makes it all or nothing.
func (f File) build(ctx context.Context, tx *sql.Tx, s Schema) error {
	for _, q := range s.Create {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: create schema: %w", f.Name, err)
		}
	}
	if s.Init != nil {
		if err := s.Init(ctx, tx); err != nil {
			return err
		}
	}
	if s.ApplicationID != 0 {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", s.ApplicationID)); err != nil {
			return fmt.Errorf("%s: set application id: %w", f.Name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", s.Version)); err != nil {
		return fmt.Errorf("%s: set schema version: %w", f.Name, err)
	}
	return nil
}
