package media

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// needFFmpeg skips the test when ffmpeg or ffprobe is not installed.
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed: %v", bin, err)
		}
	}
}

// encodeH264 runs ffmpeg's libx264 on a test pattern and returns the raw
// Annex B stream.
func encodeH264(t *testing.T, size, rate string, frames int, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.h264")
	cmd := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=" + size + ":rate=" + rate,
		"-frames:v", strconv.Itoa(frames), "-c:v", "libx264"}
	cmd = append(cmd, args...)
	cmd = append(cmd, "-f", "h264", out)
	if b, err := exec.Command("ffmpeg", cmd...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", cmd, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstNALU returns the first NAL unit of type t in an Annex B stream.
func firstNALU(t *testing.T, stream []byte, typ uint8) []byte {
	t.Helper()
	for _, nal := range SplitAnnexB(stream) {
		if NALUType(nal) == typ {
			return nal
		}
	}
	t.Fatalf("no NAL unit of type %d in %d bytes", typ, len(stream))
	return nil
}
