package trust

import (
	"os"
	"path/filepath"
	"testing"
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
