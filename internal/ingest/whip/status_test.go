package whip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// testPublisher is a pion publisher on its own loopback UDP socket.
type testPublisher struct {
	pc        *webrtc.PeerConnection
	video     *webrtc.TrackLocalStaticRTP
	offer     string
	connected chan struct{}
	seq       uint16
}

func newTestPublisher(t *testing.T) *testPublisher {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	me := &webrtc.MediaEngine{}
	h264 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	p := &testPublisher{connected: make(chan struct{})}
	if p.pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.pc.Close(); _ = mux.Close(); _ = conn.Close() })
	var once sync.Once
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	if p.video, err = webrtc.NewTrackLocalStaticRTP(h264, "video", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.pc.AddTransceiverFromTrack(p.video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	p.offer = p.gatheredOffer(t)
	return p
}

func (p *testPublisher) gatheredOffer(t *testing.T) string {
	t.Helper()
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return p.pc.LocalDescription().SDP
}

// answer applies the WHIP answer and waits until ICE and DTLS are up.
func (p *testPublisher) answer(t *testing.T, sdp string) {
	t.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.connected:
	case <-time.After(10 * time.Second):
		t.Fatal("publisher not connected within 10 s")
	}
}

// send writes n small H.264 packets (one-NAL slices) 20 ms apart.
func (p *testPublisher) send(t *testing.T, n int) {
	t.Helper()
	for range n {
		p.seq++
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.seq, Timestamp: uint32(p.seq) * 3000, Marker: true},
			Payload: []byte{0x41, 0x9a, 0x00, 0x01, 0x02}}
		if err := p.video.WriteRTP(pkt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a log destination safe for the session's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// statusHarness is a harness whose Starter keeps each Publish, so a test can
// read the session's stats as the broadcaster does.
func statusHarness(t *testing.T, cfg Config) (*harness, chan Publish) {
	pubs := make(chan Publish, 4)
	var h *harness
	cfg.Starter = starterFunc(func(ctx context.Context, p Publish) (Sink, error) {
		s := &fakeSink{closed: make(chan error, 1)}
		pubs <- p
		h.sinks <- s
		return s, nil
	})
	h = newHarness(t, cfg)
	return h, pubs
}

// TestConnectedIsLoggedWhenICEAndDTLSAre: the POST is logged as an answered
// offer, and "publisher connected" comes when the PeerConnection connects,
// with the address ICE chose.
func TestConnectedIsLoggedWhenICEAndDTLSAre(t *testing.T) {
	logs := &syncBuffer{}
	h, pubs := statusHarness(t, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	p := newTestPublisher(t)
	r := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", p.offer, nil)
	answer := body(t, r)
	if r.StatusCode != 201 {
		t.Fatalf("POST %d: %s", r.StatusCode, answer)
	}
	pub := <-pubs
	if !strings.Contains(logs.String(), "publisher offer answered") || strings.Contains(logs.String(), "publisher connected") {
		t.Fatalf("log before the publisher connects:\n%s", logs)
	}
	if st := pub.Stats(); !st.Connected.IsZero() || st.State == "connected" {
		t.Errorf("stats before connecting: %+v", st)
	}
	p.answer(t, answer)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "publisher connected") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	line := lineWith(logs.String(), "publisher connected")
	if !strings.Contains(line, "level=INFO") || !strings.Contains(line, "remote=127.0.0.1:") || !strings.Contains(line, "session=") {
		t.Errorf("connected line %q: want Info with the selected remote address", line)
	}
	if st := pub.Stats(); st.Connected.IsZero() || !strings.HasPrefix(st.RemoteCandAddr, "127.0.0.1:") {
		t.Errorf("stats once connected: %+v", st)
	}
}

func lineWith(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// TestStatsTellWhenMediaArrives: a connected session's stats have no
// media time until the first RTP packet, then FirstMedia and a LastPacket
// that follows the packets.
func TestStatsTellWhenMediaArrives(t *testing.T) {
	h, pubs := statusHarness(t, Config{})
	p := newTestPublisher(t)
	r := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", p.offer, nil)
	p.answer(t, body(t, r))
	pub := <-pubs
	if st := pub.Stats(); !st.FirstMedia.IsZero() || !st.LastPacket.IsZero() {
		t.Fatalf("media times before any media: %+v", st)
	}
	before := time.Now()
	p.send(t, 5)
	st := waitStats(t, pub, func(st SessionStats) bool { return st.PacketsVideo >= 5 })
	if st.FirstMedia.Before(before) || st.LastPacket.Before(st.FirstMedia) || time.Since(st.LastPacket) > time.Second {
		t.Errorf("after 5 packets: first %v last %v (sent from %v)", st.FirstMedia, st.LastPacket, before)
	}
	p.send(t, 5)
	later := waitStats(t, pub, func(s SessionStats) bool { return s.PacketsVideo >= 10 })
	if !later.FirstMedia.Equal(st.FirstMedia) || !later.LastPacket.After(st.LastPacket) {
		t.Errorf("FirstMedia moved or LastPacket stood still: %+v then %+v", st, later)
	}
}

func waitStats(t *testing.T, pub Publish, ok func(SessionStats) bool) SessionStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := pub.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSilentPublisherEndsAtMediaTimeout: a publisher that connects and
// sends no RTP, or stops sending, is ended with ErrMediaTimeout once
// MediaTimeout passes without a packet; one that keeps sending is not.
func TestSilentPublisherEndsAtMediaTimeout(t *testing.T) {
	const timeout = 800 * time.Millisecond
	for _, sends := range []int{0, 100} { // none, or 2 s of packets
		h, _ := statusHarness(t, Config{MediaTimeout: timeout})
		p := newTestPublisher(t)
		r := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", p.offer, nil)
		p.answer(t, body(t, r))
		sink := <-h.sinks
		p.send(t, sends)
		stopped := time.Now()
		select {
		case err := <-sink.closed:
			t.Fatalf("ended while %d packets were being sent: %v", sends, err)
		default:
		}
		select {
		case err := <-sink.closed:
			if waited := time.Since(stopped); !errors.Is(err, ErrMediaTimeout) || waited > 3*timeout {
				t.Errorf("after %d packets: ended %v after %v, want ErrMediaTimeout within %v", sends, err, waited, 3*timeout)
			}
			if !strings.Contains(err.Error(), timeout.String()) {
				t.Errorf("reason %q does not say how long", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("after %d packets: silent publisher not ended", sends)
		}
	}
}

// TestDefaultTimeouts: the defaults docs/protocol.md states.
func TestDefaultTimeouts(t *testing.T) {
	h := newHarness(t, Config{})
	if c := h.srv.cfg; c.ConnectTimeout != 15*time.Second || c.MediaTimeout != 10*time.Second || c.GatherTimeout != 5*time.Second {
		t.Errorf("connect %v media %v gather %v, want 15s, 10s and 5s", c.ConnectTimeout, c.MediaTimeout, c.GatherTimeout)
	}
}

// TestNeverConnectedEndsAtConnectTimeout: a publisher that posts an offer
// and never connects is ended with ErrNeverConnected when the default
// ConnectTimeout (15 s, the docs' figure) passes, whichever of that timer
// and pion's ICE agent, which gives up checking at the same time, fires
// first.
func TestNeverConnectedEndsAtConnectTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	start := time.Now()
	r := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 1), nil)
	if r.StatusCode != 201 {
		t.Fatal(r.StatusCode)
	}
	sink := <-h.sinks
	select {
	case err := <-sink.closed:
		took := time.Since(start)
		if !errors.Is(err, ErrNeverConnected) || took < 14*time.Second || took > 17*time.Second {
			t.Errorf("ended after %v with %v, want ErrNeverConnected after 15 s", took.Round(time.Millisecond), err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("a publisher that never connected was not ended within 25 s")
	}
}
