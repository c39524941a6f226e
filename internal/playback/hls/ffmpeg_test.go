package hls

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/playback/hls/hlstest"
)

// TestFFprobePlaysTheStoredSession checks with real media that a session,
// including a rendition that falls back to the source for one segment,
// plays through from disk and over HTTP.
func TestFFprobePlaysTheStoredSession(t *testing.T) {
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	src, low := hlstest.Segments(t, "320x240", 3, 1, 0), hlstest.Segments(t, "160x120", 3, 1, 0)
	s, _ := newTestStore(t, nil)
	st, err := s.Open("s", []Variant{{Name: "source", Width: 320, Height: 240}, {Name: "120p", Width: 160, Height: 120}})
	if err != nil {
		t.Fatal(err)
	}
	for seq := range 3 {
		p := map[string][]byte{"source": src[seq], "120p": low[seq]}
		if seq == 1 {
			delete(p, "120p") // the transcoder failed this one
		}
		mustAdd(t, st, uint64(seq), time.Second, p)
	}
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	frames := func(input string) int {
		t.Helper()
		out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
			"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", input).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", input, err, out)
		}
		// HLS input lists each stream under its program too; take the first.
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		n, err := strconv.Atoi(first)
		if err != nil {
			t.Fatalf("ffprobe %s: %q", input, out)
		}
		return n
	}
	if n := frames(filepath.Join(st.dir, "120p", "index.m3u8")); n != 75 {
		t.Errorf("120p from disk: %d frames, want 75", n)
	}
	srv := newHTTPServer(t, s)
	if n := frames(srv + "/hls/s/120p/index.m3u8"); n != 75 {
		t.Errorf("120p over HTTP: %d frames, want 75", n)
	}
	if n := frames(srv + "/hls/s/index.m3u8"); n != 75 {
		t.Errorf("multivariant over HTTP: %d frames, want 75", n)
	}
	if _, err := os.Stat(filepath.Join(st.dir, "120p", "1.ts")); !os.IsNotExist(err) {
		t.Errorf("120p/1.ts should not exist: %v", err)
	}
}
