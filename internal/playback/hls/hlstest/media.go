package hlstest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
)

// Segments has ffmpeg encode seconds of a 25 fps test pattern of size
// ("320x240") with AAC audio, cut into MPEG-TS segments of segment seconds
// that each start with an IDR, as the broadcaster's renditions are; x264
// writes bframes B-frames between references. It returns the segments'
// bytes, and skips the test when ffmpeg is not installed.
func Segments(t testing.TB, size string, seconds, segment, bframes int) [][]byte {
	t.Helper()
	dir := t.TempDir()
	gop := strconv.Itoa(25 * segment)
	mpegtstest.Run(t, "ffmpeg", "-v", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "superfast", "-bf", strconv.Itoa(bframes),
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac",
		"-f", "segment", "-segment_time", strconv.Itoa(segment), "-segment_format", "mpegts",
		filepath.Join(dir, "%d.ts"))
	var segs [][]byte
	for i := range seconds / segment {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)+".ts"))
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, b)
	}
	return segs
}
