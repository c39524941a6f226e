package hls

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHandlerDoesNotFollowSymlinksOut: a segment file replaced by a
// symlink to a file outside the store (by anyone who can write the data
// directory, or a restored backup) is not served.
func TestHandlerDoesNotFollowSymlinksOut(t *testing.T) {
	s, _ := newTestStore(t, nil)
	st, _ := s.Open("cam", ladder)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source", "360p", "240p"))
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("not media"), 0o600); err != nil {
		t.Fatal(err)
	}
	seg := st.SegmentPath("240p", 0)
	if err := os.Remove(seg); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, seg); err != nil {
		t.Fatal(err)
	}
	resp := get(s.Handler(), "GET", "/hls/cam/240p/0.ts")
	if got := body(t, resp); resp.StatusCode == 200 || string(got) == "not media" {
		t.Fatalf("served a file outside the store through a symlink: %d %q", resp.StatusCode, got)
	}
	if resp := get(s.Handler(), "GET", "/hls/cam/360p/0.ts"); resp.StatusCode != 200 {
		t.Fatalf("a regular segment beside it: status %d", resp.StatusCode)
	}
}
