package publish

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"
)

// recorder is a sampleWriter that notes what it was given.
type recorder struct {
	mu      *sync.Mutex
	log     *[]string // kind of each write, in order, shared by tracks
	kind    string
	samples []media.Sample
}

func (r *recorder) WriteSample(s media.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.log = append(*r.log, r.kind)
	r.samples = append(r.samples, s)
	return nil
}

func (r *recorder) total() time.Duration {
	var d time.Duration
	for _, s := range r.samples {
		d += s.Duration
	}
	return d
}

// trackOf makes n frames of ticks each at rate.
func trackOf(n int, ticks, rate int64) *trackData {
	t := &trackData{rate: rate}
	for i := range n {
		t.frames = append(t.frames, frame{data: []byte{byte(i)}, ticks: ticks})
		t.total += ticks
	}
	return t
}

func newTestPacer(loop bool, limit time.Duration) (*pacer, *recorder, *recorder, *[]string) {
	var mu sync.Mutex
	var log []string
	v := &recorder{mu: &mu, log: &log, kind: "v"}
	a := &recorder{mu: &mu, log: &log, kind: "a"}
	p := &pacer{
		video: &pacedTrack{data: trackOf(3, 1, 30), w: v},         // 3 frames of 1/30 s
		audio: &pacedTrack{data: trackOf(5, 960, opusRate), w: a}, // 5 packets of 20 ms
		loop:  loop, limit: limit, start: time.Now(),
	}
	return p, v, a, &log
}

func TestPacerLoopsUntilLimitInMediaTimeOrder(t *testing.T) {
	p, v, a, log := newTestPacer(true, 200*time.Millisecond)
	if err := p.run(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	// Video at 0, 33, 67, 100, 133, 167 ms; audio every 20 ms up to 180.
	if len(v.samples) != 6 || len(a.samples) != 10 {
		t.Fatalf("wrote %d video and %d audio samples, want 6 and 10", len(v.samples), len(a.samples))
	}
	if v.total() != 200*time.Millisecond || a.total() != 200*time.Millisecond {
		t.Errorf("durations sum to %v video, %v audio; want exactly 200ms each", v.total(), a.total())
	}
	want := "vaavaavavaavaava" // merged by media time; ties go to video
	got := ""
	for _, k := range *log {
		got += k
	}
	if got != want {
		t.Errorf("write order %s, want %s", got, want)
	}
	if time.Since(p.start) < 200*time.Millisecond {
		t.Errorf("200 ms of media sent in %v: not paced", time.Since(p.start))
	}
}

func TestPacerEndsWithTheFile(t *testing.T) {
	p, v, a, _ := newTestPacer(false, 0)
	if err := p.run(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if len(v.samples) != 3 || len(a.samples) != 5 {
		t.Errorf("wrote %d video and %d audio samples, want every frame once (3 and 5)", len(v.samples), len(a.samples))
	}
	if time.Since(p.start) < 100*time.Millisecond {
		t.Errorf("ended after %v, before the last frames played out", time.Since(p.start))
	}
}

func TestPacerStops(t *testing.T) {
	over := make(chan struct{})
	close(over)
	p, _, _, _ := newTestPacer(true, 0)
	if err := p.run(t.Context(), over); !errors.Is(err, errOver) {
		t.Errorf("run with the session over = %v, want errOver", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p, _, _, _ = newTestPacer(true, 0)
	if err := p.run(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("run with ended context = %v, want context.Canceled", err)
	}
}

func TestSampleDurationsDoNotDrift(t *testing.T) {
	var mu sync.Mutex
	var log []string
	r := &recorder{mu: &mu, log: &log, kind: "v"}
	tr := &pacedTrack{data: trackOf(30, 1, 30), w: r}
	const frames = 30 * 3600 // an hour at 30 fps, whose frames last 33.333… ms
	for range frames {
		if err := tr.write(true); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.total(); got != time.Hour || tr.at() != time.Hour {
		t.Errorf("an hour of frames sums to %v (clock at %v), want exactly 1h", got, tr.at())
	}
}

func TestMediaTime(t *testing.T) {
	for _, tc := range []struct {
		ticks, rate int64
		want        time.Duration
	}{
		{1, 30, 33333333},
		{2, 30, 66666666},
		{960, 48000, 20 * time.Millisecond},
		{48000 * 86400 * 365, 48000, 365 * 24 * time.Hour}, // no overflow
	} {
		if got := mediaTime(tc.ticks, tc.rate); got != tc.want {
			t.Errorf("mediaTime(%d, %d) = %v, want %v", tc.ticks, tc.rate, got, tc.want)
		}
	}
}
