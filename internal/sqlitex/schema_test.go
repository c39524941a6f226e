package sqlitex_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/sqlitex"
)

// thingSchema is a schema of version 2 with an application id, whose Init
// counts its calls.
func thingSchema(inits *int) sqlitex.Schema {
	return sqlitex.Schema{
		Kind:          "castnet thing",
		Hint:          "is it the ledger?",
		ApplicationID: 0x74686e67, // "thng"
		Version:       2,
		Create:        []string{"CREATE TABLE things (id INTEGER PRIMARY KEY)", "CREATE INDEX things_id ON things (id)"},
		Init: func(ctx context.Context, tx *sql.Tx) error {
			*inits++
			_, err := tx.ExecContext(ctx, "INSERT INTO things (id) VALUES (7)")
			return err
		},
	}
}

func TestMigrateCreatesOnceThenChecks(t *testing.T) {
	f, _ := newFile(t)
	db := openWriter(t, f)
	var inits int
	s := thingSchema(&inits)
	for i, want := range []bool{true, false, false} {
		created, err := f.Migrate(context.Background(), db, s)
		if err != nil || created != want {
			t.Fatalf("Migrate #%d = %v, %v; want created %v", i+1, created, err, want)
		}
	}
	if inits != 1 {
		t.Errorf("Init ran %d times, want once", inits)
	}
	for q, want := range map[string]string{
		"PRAGMA user_version":                "2",
		"PRAGMA application_id":              "1953001063",
		"SELECT id FROM things":              "7",
		"SELECT count(*) FROM sqlite_schema": "2",
	} {
		if got := scalar(t, db, q); got != want {
			t.Errorf("%s = %s, want %s", q, got, want)
		}
	}
}

// TestMigrateRefuses: every file that is not an empty one nor this schema
// is refused with a message that names it and says why.
func TestMigrateRefuses(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup []string
		want  string
	}{
		{"newer", []string{"PRAGMA application_id = 1953001063", "PRAGMA user_version = 3"},
			"has schema version 3, newer than this castnet understands (2)"},
		{"older", []string{"PRAGMA application_id = 1953001063", "PRAGMA user_version = 1"},
			"has unknown schema version 1"},
		{"another application", []string{"PRAGMA application_id = 42"},
			"is a SQLite database but not a castnet thing (application id 0x2a, want 0x74686e67; is it the ledger?)"},
		{"versioned but unmarked", []string{"PRAGMA user_version = 2"},
			"is a SQLite database but not a castnet thing (application id 0x0, want 0x74686e67; is it the ledger?)"},
		{"unversioned tables", []string{"CREATE TABLE x (y)", "CREATE TABLE z (w)"},
			"is a SQLite database but not a castnet thing (it has 2 schema objects and no version; is it the ledger?)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, _ := newFile(t)
			db := openWriter(t, f)
			for _, q := range c.setup {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			var inits int
			_, err := f.Migrate(context.Background(), db, thingSchema(&inits))
			if err == nil || err.Error() != "thing: "+f.Path+" "+c.want {
				t.Fatalf("Migrate = %v\nwant thing: %s %s", err, f.Path, c.want)
			}
			if inits != 0 {
				t.Error("Init ran on a refused file")
			}
		})
	}
}

// TestMigrateWithoutApplicationID: a schema with none neither sets nor
// reads the pragma, and its refusal of a foreign file has no hint.
func TestMigrateWithoutApplicationID(t *testing.T) {
	f, _ := newFile(t)
	db := openWriter(t, f)
	s := sqlitex.Schema{Kind: "castnet plain", Version: 1, Create: []string{"CREATE TABLE p (q)"}}
	if created, err := f.Migrate(context.Background(), db, s); err != nil || !created {
		t.Fatalf("Migrate = %v, %v", created, err)
	}
	if got := scalar(t, db, "PRAGMA application_id"); got != "0" {
		t.Errorf("application_id = %s, want 0", got)
	}
	if _, err := db.Exec("PRAGMA user_version = 0"); err != nil {
		t.Fatal(err)
	}
	_, err := f.Migrate(context.Background(), db, s)
	if want := "(it has 1 schema objects and no version)"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("Migrate(unversioned) = %v, want ...%s", err, want)
	}
}

// TestMigrateIsAllOrNothing: when a create statement or Init fails, the
// file stays empty and unversioned, and the next Migrate creates it.
func TestMigrateIsAllOrNothing(t *testing.T) {
	errInit := errors.New("init failed")
	for _, c := range []struct {
		name  string
		spoil func(*sqlitex.Schema)
		want  func(error) bool
	}{
		{"bad statement", func(s *sqlitex.Schema) { s.Create = append(s.Create, "CREATE TABLE things (again)") },
			func(err error) bool { return strings.HasPrefix(err.Error(), "thing: create schema: ") }},
		{"Init fails", func(s *sqlitex.Schema) { s.Init = func(context.Context, *sql.Tx) error { return errInit } },
			func(err error) bool { return err == errInit }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, _ := newFile(t)
			db := openWriter(t, f)
			var inits int
			s := thingSchema(&inits)
			c.spoil(&s)
			if created, err := f.Migrate(context.Background(), db, s); err == nil || created || !c.want(err) {
				t.Fatalf("Migrate = %v, %v", created, err)
			}
			for _, q := range []string{"PRAGMA user_version", "PRAGMA application_id", "SELECT count(*) FROM sqlite_schema"} {
				if got := scalar(t, db, q); got != "0" {
					t.Errorf("%s = %s after a failed Migrate", q, got)
				}
			}
			if created, err := f.Migrate(context.Background(), db, thingSchema(&inits)); err != nil || !created {
				t.Fatalf("Migrate after the failure = %v, %v", created, err)
			}
		})
	}
}

func TestMigrateRefusesJunkAndNoVersion(t *testing.T) {
	f, _ := newFile(t)
	if err := os.WriteFile(f.Path, []byte(strings.Repeat("not sqlite ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := openWriter(t, f)
	var inits int
	if _, err := f.Migrate(context.Background(), db, thingSchema(&inits)); err == nil || !strings.HasPrefix(err.Error(), "thing: ") {
		t.Errorf("Migrate(junk) = %v", err)
	}
	s := thingSchema(&inits)
	s.Version = 0
	if _, err := f.Migrate(context.Background(), db, s); err == nil {
		t.Error("Migrate with version 0 succeeded")
	}
}
