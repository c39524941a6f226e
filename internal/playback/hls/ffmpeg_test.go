package hls

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// encodeSegments has ffmpeg cut three one-second MPEG-TS segments of a test
// pattern at the given size (25 fps, an IDR every second, AAC audio) and
// returns their bytes.
func encodeSegments(t *testing.T, size string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc=size="+size+":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-keyint_min", "25",
		"-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac",
		"-f", "segment", "-segment_time", "1", "-segment_format", "mpegts",
		filepath.Join(dir, "%d.ts"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	var segs [][]byte
	for i := 0; i < 3; i++ {
		segs = append(segs, readFile(t, filepath.Join(dir, strconv.Itoa(i)+".ts")))
	}
	return segs
}

// TestFFprobePlaysTheStoredSession checks with real media that a session,
// including a rendition that falls back to the source for one segment,
// plays through from disk and over HTTP.
func TestFFprobePlaysTheStoredSession(t *testing.T) {
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	src, low := encodeSegments(t, "320x240"), encodeSegments(t, "160x120")
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
