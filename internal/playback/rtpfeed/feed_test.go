package rtpfeed

import (
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/playback/hls/hlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
	for _, seg := range hlstest.Segments(t, "320x180", 2, 1, 0) {
		f.Segment(seg)
	}
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
