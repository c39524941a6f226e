package rtpfeed

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// segment makes one second of H.264 + AAC in MPEG-TS, as a transcoded rung
// is published, starting at PTS offset start seconds.
func segment(t *testing.T, start int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seg.ts")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "1", "-c:v", "libx264", "-bf", "0", "-g", "30",
		"-c:a", "aac", "-output_ts_offset", itoa(start), "-f", "mpegts", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(i int) string { return string(rune('0' + i)) }

// Published segments come out of the relay as RTP: video that starts on a
// keyframe, and Opus audio, paced in real time.
func TestFeederPlaysSegmentsIntoTheRelay(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	f, err := Start(Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sub, err := f.Relay().Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	f.Segment(segment(t, 1))
	f.Segment(segment(t, 2))
	var video, audio int
	var firstVideo []byte
	deadline := time.After(10 * time.Second)
	for video < 30 || audio < 20 {
		select {
		case p := <-sub.C():
			if p.Kind == media.KindVideo {
				if video == 0 {
					firstVideo = p.Payload
				}
				video++
			} else {
				audio++
			}
		case <-deadline:
			t.Fatalf("after 10 s: %d video and %d audio packets", video, audio)
		}
	}
	if nal := firstVideo[0] & 0x1f; nal != 7 && nal != 5 && nal != 24 {
		t.Errorf("first video packet is NAL %d, want a keyframe's start", nal)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.C(); ok {
		drained := true
		for range sub.C() {
		}
		_ = drained
	}
}
