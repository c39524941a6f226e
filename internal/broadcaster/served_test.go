package broadcaster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/segment"
	"github.com/castnet/castnet/internal/transcode"
)

func sps(profile, flags, level uint8, w, h int) media.SPSInfo {
	return media.SPSInfo{ProfileIDC: profile, ConstraintFlags: flags, LevelIDC: level, Width: w, Height: h}
}

// TestServedKeepsTheMostARenditionCarried: a browser ramping from 360p
// (level 3.0) to 720p (level 3.1) and back is declared at 720p and level
// 3.1; a segment with x264's VUI timing gives its frame rate, one without
// is counted.
func TestServedKeepsTheMostARenditionCarried(t *testing.T) {
	var s served
	s.add(segmentVideo{sps: []media.SPSInfo{sps(66, 0xc0, 30, 640, 360)}, frames: 40}, 2*time.Second)
	s.add(segmentVideo{sps: []media.SPSInfo{sps(66, 0xc0, 31, 1280, 720)}, frames: 50}, 2*time.Second)
	s.add(segmentVideo{sps: []media.SPSInfo{sps(66, 0xc0, 30, 640, 360)}, frames: 30}, 2*time.Second)
	if s.width != 1280 || s.height != 720 || s.codec() != "avc1.42c01f" || s.fps != 25 {
		t.Fatalf("served %dx%d %s %.3f fps, want 1280x720 avc1.42c01f 25 fps", s.width, s.height, s.codec(), s.fps)
	}
	timed := sps(77, 0x40, 30, 640, 360)
	timed.NumUnitsInTick, timed.TimeScale = 1, 60
	var x served
	x.add(segmentVideo{sps: []media.SPSInfo{timed}, frames: 59}, 2*time.Second)
	if x.fps != 30 {
		t.Errorf("x264-timed segment declared at %.3f fps, want the SPS's 30", x.fps)
	}
}

func TestMergeSPSCoversBothStreams(t *testing.T) {
	got := mergeSPS(sps(66, 0xc0, 32, 0, 0), sps(77, 0x40, 31, 0, 0), true)
	if got.CodecString() != "avc1.4d4020" {
		t.Errorf("constrained baseline 3.2 with main 3.1 = %s, want avc1.4d4020", got.CodecString())
	}
}

// TestCapBitratesFollowsTheSource: at 700 kb/s for 1280x720 the 480p
// rung may spend 4/9 of it, and never less than MinBitrate; an unknown
// rate leaves the profiles as configured.
func TestCapBitratesFollowsTheSource(t *testing.T) {
	ladder := transcode.SessionLadder(transcode.DefaultLadder(), 1280, 720)
	got := capBitrates(ladder, 700_000, 1280, 720)
	want := map[string]int{"source": 0, "480p": 700_000 * 854 * 480 / (1280 * 720), "360p": 175_000}
	for _, p := range got {
		if p.Bitrate != want[p.Name] {
			t.Errorf("%s capped to %d, want %d", p.Name, p.Bitrate, want[p.Name])
		}
	}
	if low := capBitrates(ladder, 10_000, 1280, 720); low[2].Bitrate != transcode.MinBitrate {
		t.Errorf("a trickle of a source caps 360p at %d, want MinBitrate", low[2].Bitrate)
	}
	if same := capBitrates(ladder, 0, 1280, 720); same[1].Bitrate != ladder[1].Bitrate {
		t.Errorf("unknown rate changed the profile: %d", same[1].Bitrate)
	}
	if rich := capBitrates(ladder, 50_000_000, 1280, 720); rich[1].Bitrate != 1_200_000 {
		t.Errorf("a rich source raised 480p to %d", rich[1].Bitrate)
	}
}

// TestFirstLadderWaitsForTheFirstMeasuredRate: the first segment's
// ladder is capped at the rate the first window measured, as soon as it
// closes (not at the end of firstRateWait, and not uncapped).
func TestFirstLadderWaitsForTheFirstMeasuredRate(t *testing.T) {
	ladder := transcode.SessionLadder(transcode.DefaultLadder(), 1280, 720)
	st := &Stream{}
	st.stats.rated = make(chan struct{})
	p := &pending{seg: &segment.Segment{}, rungs: ladder, src: source{width: 1280, height: 720}}
	got := make(chan []transcode.Profile, 1)
	go func() { got <- st.cappedRungs(p) }()
	select {
	case r := <-got:
		t.Fatalf("the ladder was chosen before any rate was measured: %v", r)
	case <-time.After(20 * time.Millisecond):
	}
	st.mu.Lock()
	st.stats.bitrate = 700_000
	st.stats.markRated()
	st.stats.markRated() // twice is harmless
	st.mu.Unlock()
	select {
	case r := <-got:
		if want := capBitrates(ladder, 700_000, 1280, 720); !slices.Equal(r, want) {
			t.Errorf("first ladder %v, want %v", r, want)
		}
	case <-time.After(firstRateWait / 2):
		t.Fatal("the ladder still waits after the rate was measured")
	}
}

// TestStateIsStartingUntilFirstMedia: an answered offer is not yet live;
// the first access unit makes it so.
func TestStateIsStartingUntilFirstMedia(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	sink := startSink(t, h, "st")
	if in, _ := h.b.Stream("st"); in.State != StateStarting {
		t.Fatalf("before any media: state %q, want %q", in.State, StateStarting)
	}
	units := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: 0.2, FPS: 30})
	sink.WriteAccessUnit(units[0])
	if in, _ := h.b.Stream("st"); in.State != StateLive {
		t.Fatalf("after the first unit: state %q, want %q", in.State, StateLive)
	}
}

// TestBitrateDecaysWhenPacketsStop: the reported bitrate is not frozen at
// the last figure once media stops.
func TestBitrateDecaysWhenPacketsStop(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	sink := startSink(t, h, "quiet")
	units := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: 1.2, FPS: 30})
	for _, au := range units {
		sink.WriteAccessUnit(au)
		time.Sleep(time.Second / 30)
	}
	before, _ := h.b.Stream("quiet")
	if before.Bitrate <= 0 {
		t.Fatalf("no bitrate while sending: %+v", before)
	}
	time.Sleep(3 * time.Second)
	after, _ := h.b.Stream("quiet")
	if after.Bitrate >= before.Bitrate/2 {
		t.Errorf("bitrate %d b/s 3 s after the last packet, was %d while sending", after.Bitrate, before.Bitrate)
	}
}

// startSink starts a stream as an answered WHIP offer would, and ends it
// when the test does.
func startSink(t *testing.T, h *pipelineHarness, name string) whip.Sink {
	t.Helper()
	sink, err := h.b.StartStream(context.Background(), whip.Publish{Stream: name, Session: "s1",
		Video: media.CodecH264, RequestKeyframe: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close(nil) })
	return sink
}
