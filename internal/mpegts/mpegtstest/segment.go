package mpegtstest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Segment encodes a 1 s w × h MPEG-TS segment at 25 fps, H.264 (libx264,
// no B-frames, an IDR a second) and Opus, as castnet cuts a browser's
// stream; pattern is the lavfi source that picks the picture (testsrc,
// testsrc2, smptebars).
func Segment(t testing.TB, w, h int, pattern string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.ts")
	Run(t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", pattern+"=size="+strconv.Itoa(w)+"x"+strconv.Itoa(h)+":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "libopus", "-b:a", "32k", "-f", "mpegts", path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
