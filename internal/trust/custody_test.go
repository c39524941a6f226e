package trust

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/testfs"
)

func TestRecordLinksASourceAlreadyStoredAsCut(t *testing.T) {
	dir := t.TempDir()
	src := []byte("a -source-only segment, stored as cut")
	stored := filepath.Join(dir, "source", "0.ts")
	if err := os.MkdirAll(filepath.Dir(stored), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stored, src, 0o644); err != nil {
		t.Fatal(err)
	}
	b := NewBroadcaster(BroadcasterConfig{Key: vfKey(t), Domain: utDomain()})
	for seq, file := range map[uint64]string{0: stored, 1: filepath.Join(dir, "missing.ts")} {
		if err := b.Record(Published{Dir: dir, Stream: "s", Seq: seq, Source: src, Names: []string{"source"},
			SourceFile: file}); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := os.Stat(filepath.Join(dir, SourceDir, "0.ts"))
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.Stat(stored)
	if !os.SameFile(kept, orig) {
		t.Error("segment 0's custody copy is not a link to the stored source")
	}
	// A SourceFile that is not there falls back to a copy of the bytes.
	if got, err := os.ReadFile(filepath.Join(dir, SourceDir, "1.ts")); err != nil || string(got) != string(src) {
		t.Errorf("segment 1's custody copy: %q, %v", got, err)
	}
}

// TestRecordOnAFullDiskLeavesNoHalfWrittenFiles: a segment whose custody
// record cannot be written leaves neither a partial source copy nor half
// a log line, so the log reads whole once space returns.
func TestRecordOnAFullDiskLeavesNoHalfWrittenFiles(t *testing.T) {
	dir := testfs.SmallDisk(t, "1m")
	b := NewBroadcaster(BroadcasterConfig{Key: vfKey(t), Domain: utDomain()})
	rec := func(seq uint64, size int) error {
		return b.Record(Published{Dir: dir, Stream: "s", Seq: seq, Source: make([]byte, size), Names: []string{"source"}})
	}
	if err := rec(0, 1000); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, CustodyFile)
	before, _ := os.ReadFile(log)
	rest := filepath.Join(dir, "rest")
	testfs.Exhaust(t, rest)
	if err := rec(1, 64<<10); err == nil {
		t.Fatal("a record on a full disk reported success")
	}
	if after, _ := os.ReadFile(log); string(after) != string(before) {
		t.Errorf("the failed record changed the log: %d bytes, was %d", len(after), len(before))
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, SourceDir, "*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("partial source copies left: %v", leftovers)
	}
	if err := os.Remove(rest); err != nil {
		t.Fatal(err)
	}
	if err := rec(2, 1000); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSuffix(string(after), "\n"), "\n")
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("log line %d is not whole JSON: %q", i+1, l)
		}
	}
	if len(lines) != 3 {
		t.Errorf("the log after space returned has %d lines, want node + 2 segments", len(lines))
	}
}
