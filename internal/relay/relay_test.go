package relay

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/castnet/castnet/internal/media"
)

// fakeClock is a settable Now.
type fakeClock struct{ t atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.t.Store(time.Unix(1000, 0).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.t.Add(int64(d)) }

// publisher writes H.264-shaped packets into a relay: frames of a few
// packets, a keyframe (STAP-A with SPS+PPS, then FU-A IDR) every gop
// frames, and Opus packets between them.
type publisher struct {
	r     *Source
	clock *fakeClock
	seq   uint16
	ts    uint32
	aseq  uint16
	ats   uint32
	frame int
	gop   int
}

var (
	stapSPS = []byte{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}
	fuIDR   = []byte{28, 0x80 | 5, 1, 2, 3}
	fuMid   = []byte{28, 0x05, 4, 5}
	pSlice  = []byte{0x41, 9, 9}
)

// sendFrame sends one video frame (and one audio packet) 33 ms apart.
func (p *publisher) sendFrame() {
	var payloads [][]byte
	if p.frame%p.gop == 0 {
		payloads = [][]byte{stapSPS, fuIDR, fuMid}
	} else {
		payloads = [][]byte{pSlice}
	}
	for i, pl := range payloads {
		p.r.Write(media.KindVideo, &rtp.Packet{Header: rtp.Header{SequenceNumber: p.seq, Timestamp: p.ts,
			Marker: i == len(payloads)-1}, Payload: pl})
		p.seq++
	}
	p.r.Write(media.KindAudio, &rtp.Packet{Header: rtp.Header{SequenceNumber: p.aseq, Timestamp: p.ats}, Payload: []byte{0xfc, 1}})
	p.aseq++
	p.ats += 960
	p.ts += 3000
	p.frame++
	p.clock.Advance(33 * time.Millisecond)
}

func newTestRelay(t *testing.T) (*Relay, *publisher, *atomic.Int32) {
	t.Helper()
	c := newFakeClock()
	r := New(Config{Now: c.Now, CachePackets: 256, QueuePackets: 64})
	var plis atomic.Int32
	src := r.Attach(func() { plis.Add(1) })
	t.Cleanup(r.Close)
	return r, &publisher{r: src, clock: c, seq: 65530, ts: 1 << 31, gop: 30}, &plis
}

// drain reads what is queued now.
func drain(s *Sub) []*Packet {
	var out []*Packet
	for {
		select {
		case p, ok := <-s.C():
			if !ok {
				return out
			}
			out = append(out, p)
		default:
			return out
		}
	}
}

func firstVideo(ps []*Packet) *Packet {
	for _, p := range ps {
		if p.Kind == media.KindVideo {
			return p
		}
	}
	return nil
}

func TestViewerJoiningAfterAFreshKeyframeStartsFromTheCache(t *testing.T) {
	r, pub, plis := newTestRelay(t)
	pub.sendFrame() // keyframe
	pub.sendFrame()
	pub.sendFrame()
	s, err := r.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	got := drain(s)
	v := firstVideo(got)
	if v == nil || !startsKeyframe(v.Payload) {
		t.Fatalf("first video packet %v is not the keyframe's start", v)
	}
	if n := len(got); n != 5 { // 3 keyframe packets + 2 P frames, no audio from before the join
		t.Errorf("replayed %d packets, want 5", n)
	}
	if plis.Load() != 0 {
		t.Errorf("asked for a keyframe although a fresh one was cached")
	}
}

func TestViewerJoiningMidGOPAsksForAKeyframeAndGetsAudioMeanwhile(t *testing.T) {
	r, pub, plis := newTestRelay(t)
	for range 10 { // 330 ms since the keyframe: stale
		pub.sendFrame()
	}
	s, err := r.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	if plis.Load() != 1 {
		t.Fatalf("PLIs sent = %d, want 1", plis.Load())
	}
	pub.sendFrame()
	got := drain(s)
	if len(got) != 1 || got[0].Kind != media.KindAudio {
		t.Fatalf("while waiting got %d packets (%v), want the one audio packet", len(got), got)
	}
	pub.frame = 0 // the publisher answers the PLI
	pub.sendFrame()
	v := firstVideo(drain(s))
	if v == nil || !startsKeyframe(v.Payload) {
		t.Fatalf("first video after the PLI is %v, want the keyframe's start", v)
	}
}

func TestViewerOfAPublisherThatIgnoresPLIStartsFromTheCachedGOPAfterKeyframeWait(t *testing.T) {
	r, pub, _ := newTestRelay(t)
	for range 10 {
		pub.sendFrame()
	}
	s, _ := r.Subscribe()
	for range 9 { // 297 ms: still inside KeyframeWait
		pub.sendFrame()
	}
	if v := firstVideo(drain(s)); v != nil {
		t.Fatalf("video sent before KeyframeWait: %v", v)
	}
	pub.sendFrame()
	pub.sendFrame()
	got := drain(s)
	v := firstVideo(got)
	if v == nil || !startsKeyframe(v.Payload) {
		t.Fatalf("after KeyframeWait the first video is %v, want the cached keyframe", v)
	}
	if want := int(v.Header.SequenceNumber); want != int(uint16(65530)) {
		t.Errorf("GOP replay starts at %d, want the keyframe at %d", v.Header.SequenceNumber, uint16(65530))
	}
}

func TestSlowViewerLosesOnlyItsOwnPackets(t *testing.T) {
	r, pub, _ := newTestRelay(t)
	pub.sendFrame()
	slow, _ := r.Subscribe()
	fast, _ := r.Subscribe()
	var got int
	for range 100 { // far more than the 64-packet queue
		pub.sendFrame()
		got += len(drain(fast))
	}
	got += len(drain(fast))
	if want := 3 + 100*2 + 3*2; got != want { // keyframe replay, then every packet (3 more keyframes of 3)
		t.Errorf("fast viewer got %d packets, want %d", got, want)
	}
	if slow.Dropped() == 0 || r.Stats().Dropped != slow.Dropped() {
		t.Errorf("slow viewer dropped %d, relay counts %d", slow.Dropped(), r.Stats().Dropped)
	}
	if n := len(drain(slow)); n != 64 {
		t.Errorf("slow viewer's queue holds %d, want its bound 64", n)
	}
}

func TestNumberingRunsOnAcrossAReconnect(t *testing.T) {
	r, pub, _ := newTestRelay(t)
	pub.sendFrame()
	s, _ := r.Subscribe()
	pub.sendFrame()
	before := drain(s)
	lastV := before[len(before)-2] // the P frame; the last is audio
	old := pub.r
	pub.r = r.Attach(func() {})
	old.Write(media.KindVideo, &rtp.Packet{Header: rtp.Header{SequenceNumber: 1}, Payload: pSlice}) // ignored: taken over
	pub.seq, pub.ts, pub.frame = 17, 99, 0                                                          // a new encoder: new numbering, new base
	pub.clock.Advance(500 * time.Millisecond)
	pub.sendFrame()
	after := drain(s)
	v := firstVideo(after)
	if v == nil || v.Header.SequenceNumber != lastV.Header.SequenceNumber+1 {
		t.Fatalf("first packet of the new source is %v, want seq %d", v, lastV.Header.SequenceNumber+1)
	}
	if d := v.Header.Timestamp - lastV.Header.Timestamp; d < 90000*5/10 || d > 90000*6/10 {
		t.Errorf("timestamp advanced %d ticks over ~533 ms, want about %d", d, 90000*533/1000)
	}
}

func TestRetransmitAnswersFromTheCache(t *testing.T) {
	r, pub, _ := newTestRelay(t)
	pub.sendFrame()
	s, _ := r.Subscribe()
	ps := drain(s)
	want := ps[1]
	if got := s.Retransmit(media.KindVideo, want.Header.SequenceNumber); got != want {
		t.Fatalf("retransmit gave %v, want %v", got, want)
	}
	if got := s.Retransmit(media.KindVideo, want.Header.SequenceNumber+1000); got != nil {
		t.Fatalf("retransmit of a number never sent gave %v", got)
	}
}

func TestPaddingOnlyPacketsInOrderAreHiddenFromViewers(t *testing.T) {
	r, pub, _ := newTestRelay(t)
	pub.sendFrame()
	s, _ := r.Subscribe()
	drain(s)
	pub.r.Write(media.KindVideo, &rtp.Packet{Header: rtp.Header{SequenceNumber: pub.seq, Timestamp: pub.ts - 3000, Padding: true}})
	pub.seq++
	pub.sendFrame()
	ps := drain(s)
	if v := firstVideo(ps); v == nil || v.Header.SequenceNumber != uint16(65530+3) {
		t.Fatalf("packet after the padding numbered %v, want %d (no gap)", v, uint16(65530+3))
	}
	if r.Stats().PaddingDrops != 1 {
		t.Errorf("padding drops = %d", r.Stats().PaddingDrops)
	}
}

func TestLatePacketKeepsItsNumber(t *testing.T) {
	c := newFakeClock()
	r := New(Config{Now: c.Now})
	defer r.Close()
	src := r.Attach(nil)
	w := func(seq uint16) {
		src.Write(media.KindAudio, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: []byte{1}})
	}
	s, _ := r.Subscribe()
	w(10)
	w(12) // 11 lost
	w(11) // its retransmission
	ps := drain(s)
	if len(ps) != 3 || ps[2].Header.SequenceNumber != ps[0].Header.SequenceNumber+1 {
		t.Fatalf("late packet numbered %v, want %d", ps, ps[0].Header.SequenceNumber+1)
	}
}

func TestClosingEndsViewersAndRefusesNewOnes(t *testing.T) {
	r, pub, _ := newTestRelay(t)
	pub.sendFrame()
	s, _ := r.Subscribe()
	r.Close()
	drain(s)
	if _, ok := <-s.C(); ok {
		t.Fatal("queue still open after Close")
	}
	if _, err := r.Subscribe(); err != ErrClosed {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	pub.sendFrame() // a late write is ignored, not a panic on a closed queue
	s.Close()
}

func TestStartsKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"single IDR", []byte{0x65, 1}, true},
		{"single SPS", []byte{0x67, 1}, true},
		{"single P slice", []byte{0x41, 1}, false},
		{"STAP-A with SPS", stapSPS, true},
		{"STAP-A with SEI only", []byte{24, 0, 2, 0x06, 1}, false},
		{"STAP-A cut short", []byte{24, 0, 9, 0x67}, false},
		{"FU-A IDR start", fuIDR, true},
		{"FU-A IDR middle", fuMid, false},
		{"FU-A P start", []byte{28, 0x81, 1}, false},
	} {
		if got := startsKeyframe(tc.payload); got != tc.want {
			t.Errorf("%s: got %v want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzStartsKeyframe: any payload is judged without a panic, and a
// payload judged a keyframe names an SPS or IDR somewhere.
func FuzzStartsKeyframe(f *testing.F) {
	for _, p := range [][]byte{stapSPS, fuIDR, fuMid, pSlice, {24, 0, 0}} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if startsKeyframe(b) && len(b) == 0 {
			t.Fatal("empty payload judged a keyframe")
		}
	})
}

// Once a publisher has left a keyframe request unanswered, the next
// viewer starts from the cached GOP at once; a publisher that answers
// again is waited for again.
func TestAPublisherThatIgnoresPLIIsNotWaitedForTwice(t *testing.T) {
	r, pub, _ := newTestRelay(t)
	for range 10 {
		pub.sendFrame()
	}
	first, _ := r.Subscribe()
	for range 11 { // past KeyframeWait: the first viewer starts from the cache
		pub.sendFrame()
	}
	if v := firstVideo(drain(first)); v == nil || !startsKeyframe(v.Payload) {
		t.Fatalf("first viewer: %v", v)
	}
	second, _ := r.Subscribe()
	if v := firstVideo(drain(second)); v == nil || !startsKeyframe(v.Payload) {
		t.Fatalf("second viewer waited although the publisher ignores PLIs: %v", v)
	}
	for range 10 { // the cached keyframe is stale again
		pub.sendFrame()
	}
	third, _ := r.Subscribe() // starts from the cache, and asks
	pub.frame = 0
	pub.sendFrame() // the request is answered at once: the publisher answers PLIs after all
	drain(third)
	for range 10 {
		pub.sendFrame()
	}
	fourth, _ := r.Subscribe()
	if v := firstVideo(drain(fourth)); v != nil {
		t.Fatalf("a viewer of a publisher that answers PLIs again started from a stale GOP: %v", v)
	}
}
