package segment_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/segment"
)

var videoOnly = segment.Config{Video: media.CodecH264}

func TestCutPoints(t *testing.T) {
	tests := []struct {
		name        string
		cfg         segment.Config
		aus         []media.AccessUnit
		wantStarts  []time.Duration
		wantDurs    []time.Duration
		wantDropped uint64
	}{
		{
			name: "IDR every 1s cuts every 2s", cfg: videoOnly,
			aus:        videoStream(ms(6500), every(time.Second, ms(6500))...),
			wantStarts: []time.Duration{0, ms(2000), ms(4000), ms(6000)},
			wantDurs:   []time.Duration{ms(2000), ms(2000), ms(2000), ms(500)},
		},
		{
			name: "IDR every 2s cuts at each", cfg: videoOnly,
			aus:        videoStream(ms(6000), every(2*time.Second, ms(6000))...),
			wantStarts: []time.Duration{0, ms(2000), ms(4000)},
			wantDurs:   []time.Duration{ms(2000), ms(2000), ms(2000)},
		},
		{
			name: "IDR every 3s makes 3s segments", cfg: videoOnly,
			aus:        videoStream(ms(9000), every(3*time.Second, ms(9000))...),
			wantStarts: []time.Duration{0, ms(3000), ms(6000)},
			wantDurs:   []time.Duration{ms(3000), ms(3000), ms(3000)},
		},
		{
			name: "an IDR within KeyframeLead before Target cuts", cfg: videoOnly,
			aus:        videoStream(ms(5400), every(ms(900), ms(5400))...),
			wantStarts: []time.Duration{0, ms(1800), ms(3600)},
			wantDurs:   []time.Duration{ms(1800), ms(1800), ms(1800)},
		},
		{
			name: "irregular IDRs cut at the first one past the target", cfg: videoOnly,
			aus:        videoStream(ms(6000), 0, ms(500), ms(1600), ms(2300), ms(2400), ms(5000), ms(5100)),
			wantStarts: []time.Duration{0, ms(2300), ms(5000)},
			wantDurs:   []time.Duration{ms(2300), ms(2700), ms(1000)},
		},
		{
			name: "a segment that never gets a second IDR grows to the end", cfg: videoOnly,
			aus:        videoStream(ms(10000), 0),
			wantStarts: []time.Duration{0},
			wantDurs:   []time.Duration{ms(10000)},
		},
		{
			name: "units before the first IDR are dropped", cfg: segment.Config{Video: media.CodecH264, Audio: media.CodecOpus},
			aus:         interleave(videoStream(ms(3000), ms(500)), audioStream(ms(3000))),
			wantStarts:  []time.Duration{ms(500)},
			wantDurs:    []time.Duration{ms(2500)},
			wantDropped: 15 + 25, // frames and audio units before 500ms
		},
		{
			name: "audio-only streams cut on time", cfg: segment.Config{Audio: media.CodecOpus},
			aus:        audioStream(ms(5000)),
			wantStarts: []time.Duration{0, ms(2000), ms(4000)},
			wantDurs:   []time.Duration{ms(2000), ms(2000), ms(1000)},
		},
		{
			name: "Target sets the length", cfg: segment.Config{Video: media.CodecH264, Target: 4 * time.Second},
			aus:        videoStream(ms(9000), every(time.Second, ms(9000))...),
			wantStarts: []time.Duration{0, ms(4000), ms(8000)},
			wantDurs:   []time.Duration{ms(4000), ms(4000), ms(1000)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs, stats := run(t, tt.cfg, tt.aus)
			var starts, durs []time.Duration
			for i, g := range segs {
				if g.Seq != uint64(i) {
					t.Errorf("segment %d has Seq %d", i, g.Seq)
				}
				starts, durs = append(starts, g.Start), append(durs, g.Duration().Round(time.Millisecond))
			}
			if !slices.Equal(starts, tt.wantStarts) {
				t.Errorf("starts = %v, want %v", starts, tt.wantStarts)
			}
			if !slices.Equal(durs, tt.wantDurs) {
				t.Errorf("durations = %v, want %v", durs, tt.wantDurs)
			}
			if stats.Dropped != tt.wantDropped || stats.Segments != uint64(len(segs)) {
				t.Errorf("stats = %+v, want %d dropped, %d segments", stats, tt.wantDropped, len(segs))
			}
		})
	}
}

// publisher feeds a Segmenter 30 fps video, sending an IDR where the script
// says and, when it honours PLI, three frames after each request.
type publisher struct {
	honoursPLI bool
	idrs       []time.Duration
	now        time.Duration   // PTS of the unit being written
	requests   []time.Duration // PTS at which RequestKeyframe was called
	pending    int             // frames until the requested IDR, 0 for none
}

func (p *publisher) requestKeyframe() {
	p.requests = append(p.requests, p.now)
	if p.honoursPLI && p.pending == 0 {
		p.pending = 3
	}
}

func (p *publisher) run(t *testing.T, end time.Duration) []*segment.Segment {
	t.Helper()
	var rec recorder
	s, err := segment.New(segment.Config{Video: media.CodecH264, RequestKeyframe: p.requestKeyframe, OnSegment: rec.onSegment})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; frameAt(i) < end; i++ {
		p.now = frameAt(i)
		idr := slices.Contains(p.idrs, p.now)
		if p.pending > 0 {
			if p.pending--; p.pending == 0 {
				idr = true
			}
		}
		if err := s.Write(videoUnit(p.now, idr, 100)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if got := s.Stats().KeyframeRequests; got != uint64(len(p.requests)) {
		t.Errorf("Stats.KeyframeRequests = %d, want %d", got, len(p.requests))
	}
	return rec.segments()
}

func TestKeyframeRequests(t *testing.T) {
	tests := []struct {
		name         string
		pub          publisher
		end          time.Duration
		wantRequests []time.Duration
		wantStarts   []time.Duration
	}{
		{
			name: "asks 300ms before Target, then every 500ms while no IDR comes",
			pub:  publisher{idrs: []time.Duration{0}}, end: ms(3000),
			wantRequests: []time.Duration{ms(1700), ms(2200), ms(2700)},
			wantStarts:   []time.Duration{0},
		},
		{
			name: "the answering IDR cuts the segment and the asking starts over",
			pub:  publisher{idrs: []time.Duration{0}, honoursPLI: true}, end: ms(4000),
			wantRequests: []time.Duration{ms(1700), ms(3500)},
			wantStarts:   []time.Duration{0, ms(1800), ms(3600)},
		},
		{
			name: "asks at once and every 500ms until the first IDR",
			pub:  publisher{idrs: []time.Duration{ms(1200)}}, end: ms(2000),
			wantRequests: []time.Duration{0, ms(500), ms(1000)},
			wantStarts:   []time.Duration{ms(1200)},
		},
		{
			name: "IDRs on time from a publisher that ignores PLI still draw one request each",
			pub:  publisher{idrs: every(2*time.Second, ms(6000))}, end: ms(6000),
			wantRequests: []time.Duration{ms(1700), ms(3700), ms(5700)},
			wantStarts:   []time.Duration{0, ms(2000), ms(4000)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs := tt.pub.run(t, tt.end)
			if !slices.Equal(tt.pub.requests, tt.wantRequests) {
				t.Errorf("requests at %v, want %v", tt.pub.requests, tt.wantRequests)
			}
			var starts []time.Duration
			for _, g := range segs {
				starts = append(starts, g.Start)
			}
			if !slices.Equal(starts, tt.wantStarts) {
				t.Errorf("starts = %v, want %v", starts, tt.wantStarts)
			}
		})
	}
}

func TestAudioOnlyNeverRequestsKeyframes(t *testing.T) {
	called := 0
	_, stats := run(t, segment.Config{Audio: media.CodecOpus, RequestKeyframe: func() { called++ }}, audioStream(ms(5000)))
	if called != 0 || stats.KeyframeRequests != 0 {
		t.Errorf("RequestKeyframe called %d times", called)
	}
}

func TestOversizedSegmentIsForceFinished(t *testing.T) {
	cfg := segment.Config{Video: media.CodecH264, MaxSegmentBytes: 20000}
	// 200-byte frames make ~2 packets each: the cap falls after ~50 frames.
	segs, stats := run(t, cfg, videoStream(ms(4000), 0, ms(3000)))
	if len(segs) != 2 || segs[1].Start != ms(3000) {
		t.Fatalf("segments %v", segs)
	}
	if stats.ForceFinished != 1 || stats.Dropped == 0 {
		t.Errorf("stats = %+v, want one forced finish and drops until the next IDR", stats)
	}
	if d, n := segs[0].Duration(), len(segs[0].Bytes()); d <= 0 || d >= ms(3000) || n <= 20000 || n > 21000 {
		t.Errorf("forced segment: %v, %d bytes", d, n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  segment.Config
	}{
		{"no streams", segment.Config{}},
		{"video codec other than h264", segment.Config{Video: "vp8"}},
		{"audio codec other than opus", segment.Config{Audio: "aac"}},
		{"KeyframeLead not below Target", segment.Config{Video: media.CodecH264, Target: time.Second, KeyframeLead: time.Second}},
		{"negative Target", segment.Config{Video: media.CodecH264, Target: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := segment.New(tt.cfg); !errors.Is(err, segment.ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestWriteRejectsUnitsTheConfigDoesNotCarry(t *testing.T) {
	s, err := segment.New(videoOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(audioUnit(0)); !errors.Is(err, segment.ErrUnexpectedUnit) {
		t.Errorf("audio into a video-only segmenter: err = %v", err)
	}
	vp8 := videoUnit(0, true, 10)
	vp8.Codec = "vp8"
	if err := s.Write(vp8); !errors.Is(err, segment.ErrUnexpectedUnit) {
		t.Errorf("vp8 into an h264 segmenter: err = %v", err)
	}
}

func TestCloseFinishesTheOpenSegmentOnce(t *testing.T) {
	var rec recorder
	s, err := segment.New(segment.Config{Video: media.CodecH264, OnSegment: rec.onSegment})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(videoUnit(0, true, 10)); err != nil {
		t.Fatal(err)
	}
	g := rec.segments()[0]
	select {
	case <-g.Done():
		t.Fatal("segment done before Close")
	default:
	}
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	<-g.Done()
	if g.Duration() != time.Second/fps {
		t.Errorf("single-frame segment lasts %v, want one frame at the default rate", g.Duration())
	}
	if err := s.Write(videoUnit(ms(40), false, 10)); !errors.Is(err, segment.ErrClosed) {
		t.Errorf("Write after Close: err = %v, want ErrClosed", err)
	}
}

// TestFirstSeqNumbersTheSegments: segments are numbered from FirstSeq on,
// and NextSeq is one past the last opened once the segmenter is closed.
func TestFirstSeqNumbersTheSegments(t *testing.T) {
	var seqs []uint64
	s, err := segment.New(segment.Config{Video: media.CodecH264, FirstSeq: 40,
		OnSegment: func(g *segment.Segment) { seqs = append(seqs, g.Seq) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range videoStream(5*time.Second, every(2*time.Second, 5*time.Second)...) {
		if err := s.Write(au); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []uint64{40, 41, 42}; !slices.Equal(seqs, want) {
		t.Errorf("segments numbered %v, want %v", seqs, want)
	}
	if got := s.NextSeq(); got != 43 {
		t.Errorf("NextSeq = %d, want 43", got)
	}
}
