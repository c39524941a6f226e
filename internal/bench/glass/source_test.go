package glass

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/bench/benchtest"
)

// fakeSink records what the source sends.
type fakeSink struct {
	mu        sync.Mutex
	frames    int
	audio     int
	keyframes []time.Time
}

func (f *fakeSink) writeVideo(nalus [][]byte, key bool, _ time.Duration, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames++
	if key {
		f.keyframes = append(f.keyframes, time.Now())
	}
}

func (f *fakeSink) writeAudio([]byte, time.Duration) {
	f.mu.Lock()
	f.audio++
	f.mu.Unlock()
}

func (f *fakeSink) counts() (frames, audio int, keys []time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frames, f.audio, append([]time.Time(nil), f.keyframes...)
}

// TestSourceAnswersAPLIWithTheNextFrame: the spare encoder takes over
// and its first frame is an IDR, a frame or two after the request rather
// than up to a GOP later.
func TestSourceAnswersAPLIWithTheNextFrame(t *testing.T) {
	benchtest.NeedFFmpeg(t)
	src, err := startSource("ffmpeg", 20*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	var k fakeSink
	defer src.add(&k)()
	time.Sleep(2 * time.Second)
	frames, audio, keys := k.counts()
	if frames < 30 || audio < 50 || len(keys) == 0 {
		t.Fatalf("in 2 s: %d frames, %d audio packets, %d keyframes", frames, audio, len(keys))
	}
	for i := range 3 {
		time.Sleep(700 * time.Millisecond) // away from the GOP's own IDR
		asked := time.Now()
		src.requestKeyframe()
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if _, _, keys := k.counts(); keys[len(keys)-1].After(asked) {
				t.Logf("PLI %d answered after %s", i+1, keys[len(keys)-1].Sub(asked).Round(time.Millisecond))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, _, keys := k.counts(); keys[len(keys)-1].Sub(asked) > 400*time.Millisecond {
			t.Errorf("PLI %d: no IDR within 400 ms", i+1)
		}
	}
	if st := src.Stats(); st.Restarts != 3 || st.PLIs != 3 {
		t.Errorf("stats %+v, want 3 PLIs answered", st)
	}
}
