package media

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// bitWriter builds bitstreams for tests: the inverse of bitReader.
type bitWriter struct {
	buf  []byte
	bits int
}

func (w *bitWriter) u(n int, v uint64) *bitWriter {
	for i := n - 1; i >= 0; i-- {
		if w.bits%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>uint(i)&1 == 1 {
			w.buf[len(w.buf)-1] |= 0x80 >> uint(w.bits%8)
		}
		w.bits++
	}
	return w
}

func (w *bitWriter) flag(b bool) *bitWriter {
	if b {
		return w.u(1, 1)
	}
	return w.u(1, 0)
}

func (w *bitWriter) ue(v uint64) *bitWriter {
	n := 0
	for (v+1)>>uint(n+1) != 0 {
		n++
	}
	return w.u(n, 0).u(n+1, v+1)
}

func (w *bitWriter) se(v int64) *bitWriter {
	if v > 0 {
		return w.ue(uint64(2*v - 1))
	}
	return w.ue(uint64(-2 * v))
}

// rbsp closes the bitstream with rbsp_trailing_bits (H.264 §7.3.2.11).
func (w *bitWriter) rbsp() []byte {
	w.u(1, 1)
	for w.bits%8 != 0 {
		w.u(1, 0)
	}
	return w.buf
}

// escapeRBSP inserts emulation prevention bytes (H.264 §7.4.1), the
// inverse of unescapeRBSP.
func escapeRBSP(b []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

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
