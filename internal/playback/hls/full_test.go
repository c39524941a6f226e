package hls

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/testfs"
)

// TestFullDiskIsLoudAndEndingCatchesUp: on a disk that fills, a segment
// that cannot be stored fails as ErrStorage and leaves no partial file,
// the store says it cannot write, and an ending that failed is written
// (EXT-X-ENDLIST, manifest) once space returns, without anyone asking.
func TestFullDiskIsLoudAndEndingCatchesUp(t *testing.T) {
	disk := testfs.SmallDisk(t, "2m")
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	// No free-space minimum: this test is about writes that fail (see
	// TestLowFreeSpaceRefusesNewWork for the minimum).
	s, err := New(Config{Dir: filepath.Join(disk, "hls"), RetryInterval: 20 * time.Millisecond, MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	st, err := s.Open("full", ladder[:1])
	if err != nil {
		t.Fatal(err)
	}
	seq := fillUp(t, st)
	if err := s.Writable(); !errors.Is(err, ErrStorage) {
		t.Errorf("Writable on a full disk = %v, want ErrStorage", err)
	}
	if _, err := os.Stat(filepath.Join(st.Dir(), "source", segmentFile(seq))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the segment that failed left its file: %v", err)
	}
	noTempFiles(t, disk)
	testfs.Exhaust(t, filepath.Join(disk, "rest"))
	if err := st.End(); !errors.Is(err, ErrStorage) {
		t.Fatalf("End on a full disk = %v, want ErrStorage", err)
	}
	if s.PendingEnds() != 1 {
		t.Errorf("PendingEnds = %d, want 1", s.PendingEnds())
	}
	if err := errors.Join(os.Remove(filler), os.Remove(filepath.Join(disk, "rest"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return s.PendingEnds() == 0 && s.Writable() == nil })
	if pl := readFile(t, filepath.Join(st.Dir(), "source", "index.m3u8")); !strings.Contains(string(pl), "#EXT-X-ENDLIST") {
		t.Errorf("after space returned the playlist has no ENDLIST:\n%s", pl)
	}
	if m, err := LoadManifest(st.Dir()); err != nil || m.Ended.IsZero() {
		t.Errorf("after space returned the manifest has no end: %v", err)
	}
}

// TestLowFreeSpaceRefusesNewWork: with the default minimum, a store
// whose disk has less than DefaultMinFree left says it cannot take more,
// before any write fails, and can again once space is freed.
func TestLowFreeSpaceRefusesNewWork(t *testing.T) {
	disk := testfs.SmallDisk(t, "400m")
	s, err := New(Config{Dir: filepath.Join(disk, "hls")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Writable(); err != nil {
		t.Fatalf("a store with 400 MiB free: %v", err)
	}
	testfs.Exhaust(t, filepath.Join(disk, "rest"))
	if err := s.Writable(); !errors.Is(err, ErrStorage) || !strings.Contains(err.Error(), "MiB free") {
		t.Errorf("a full disk: Writable = %v, want ErrStorage saying what is free", err)
	}
	if err := os.Remove(filepath.Join(disk, "rest")); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(); err != nil {
		t.Errorf("after freeing space: %v", err)
	}
}

// fillUp adds 256 KiB segments until one fails, and returns its seq.
func fillUp(t *testing.T, st *Stream) uint64 {
	t.Helper()
	for seq := uint64(0); seq < 64; seq++ {
		err := st.AddSegment(seq, 2*time.Second, map[string][]byte{"source": make([]byte, 256<<10)})
		if errors.Is(err, ErrStorage) {
			t.Logf("segment %d: %v", seq, err)
			return seq
		}
		if err != nil {
			t.Fatalf("segment %d: %v", seq, err)
		}
	}
	t.Fatal("a 2 MiB disk never filled")
	return 0
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not so after %s", limit)
		}
	}
}

// TestRestartSweepsTemporaryFiles: what a crash left half-written is
// removed when the store opens again.
func TestRestartSweepsTemporaryFiles(t *testing.T) {
	s, data := newTestStore(t, nil)
	st, _ := s.Open("s", ladder)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source"))
	left := filepath.Join(st.Dir(), "source", ".1.ts.tmp")
	if err := os.WriteFile(left, []byte("half a segment"), 0o644); err != nil {
		t.Fatal(err)
	}
	reopen(t, data)
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leftover %s survived a restart: %v", left, err)
	}
}
