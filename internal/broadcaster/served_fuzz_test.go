package broadcaster

import (
	"math"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
)

// FuzzScanVideo: a rendition's bytes come from an orchestrator, which may
// lie. Whatever they are, reading them never panics, and what the
// multivariant playlist would declare from them stays a sane figure.
func FuzzScanVideo(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x47, 0x40, 0x00, 0x10})
	ts, _ := mpegtstest.Run(f, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30",
		"-t", "0.2", "-c:v", "libx264", "-f", "mpegts", "-")
	f.Add(ts)
	f.Fuzz(func(t *testing.T, ts []byte) {
		v := scanVideo(ts)
		if v.frames < 0 || v.frames > maxScanPES {
			t.Fatalf("%d frames", v.frames)
		}
		var s served
		s.add(v, 2*time.Second)
		if s.fps < 0 || math.IsNaN(s.fps) || math.IsInf(s.fps, 0) || s.width < 0 || s.height < 0 {
			t.Fatalf("declared %dx%d at %v fps", s.width, s.height, s.fps)
		}
	})
}
