package whep

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/relay"
	"github.com/castnet/castnet/internal/rtc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sources is a Sources of fixed relays.
type sources struct {
	mu     sync.Mutex
	relays map[string]*relay.Relay
	asked  int // lookups of a rendition (a broadcaster starts a feed for one)
}

func (s *sources) Relay(name, rendition string) (*relay.Relay, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.relays[name]
	if rendition != "" {
		s.asked++
	}
	if ok && rendition != "" {
		return nil, true, fmt.Errorf("no rendition %q: %w", rendition, httpx.ErrNotFound)
	}
	return r, ok, nil
}

type harness struct {
	srv  *Server
	http *httptest.Server
	rel  *relay.Relay
	src  *relay.Source
	plis chan struct{}
	seq  uint16 // the feeder's next video sequence number, once it stops
}

// newHarness serves WHEP on loopback with one live stream, "cam", whose
// relay the test feeds.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	return newHarnessRelay(t, cfg, relay.Config{})
}

func newHarnessRelay(t *testing.T, cfg Config, rc relay.Config) *harness {
	t.Helper()
	r, err := rtc.New(rtc.Config{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{rel: relay.New(rc), plis: make(chan struct{}, 64)}
	h.src = h.rel.Attach(func() {
		select {
		case h.plis <- struct{}{}:
		default:
		}
	})
	cfg.RTC, cfg.Sources = r, &sources{relays: map[string]*relay.Relay{"cam": h.rel}}
	if h.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	h.http = httptest.NewServer(h.srv.Handler())
	t.Cleanup(func() {
		h.http.Close()
		h.srv.Close()
		h.rel.Close()
		r.Close()
	})
	return h
}

// viewer is a pion player: recvonly video and audio.
type viewer struct {
	pc     *webrtc.PeerConnection
	tracks chan *webrtc.TrackRemote
	loc    string
}

func newViewer(t *testing.T) *viewer {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	// libwebrtc's SRTP replay window (1024; pion's default is 64), so a
	// retransmission of a packet far behind the newest is not taken for
	// a replay.
	se.SetSRTPReplayProtectionWindow(1024)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v := &viewer{pc: pc, tracks: make(chan *webrtc.TrackRemote, 2)}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { v.tracks <- tr })
	return v
}

// offer returns the viewer's gathered offer.
func (v *viewer) offer(t *testing.T) string {
	t.Helper()
	o, err := v.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(v.pc)
	if err := v.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-done
	return v.pc.LocalDescription().SDP
}

func post(t *testing.T, url, ctype, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// play POSTs the viewer's offer and applies the answer.
func (v *viewer) play(t *testing.T, h *harness) {
	t.Helper()
	resp, body := post(t, h.http.URL+"/whep/cam", "application/sdp", v.offer(t))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	v.loc = resp.Header.Get("Location")
	if !strings.HasPrefix(v.loc, "/whep/cam/") || resp.Header.Get("ETag") == "" {
		t.Fatalf("201 with Location %q, ETag %q", v.loc, resp.Header.Get("ETag"))
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		t.Fatal(err)
	}
}

// feeder sends H.264-shaped frames (a keyframe every 30) and Opus into
// the harness's relay every 10 ms until stopped.
func (h *harness) feed(t *testing.T) (stop func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var seq, aseq uint16 = 100, 7
		var ts uint32
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-quit:
				h.seq = seq
				return
			case <-tick.C:
			}
			payloads := [][]byte{{0x41, 1, 2}}
			if i%30 == 0 {
				payloads = [][]byte{{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, {0x65, 1, 2, 3}}
			}
			for j, p := range payloads {
				h.src.Write(media.KindVideo, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: j == len(payloads)-1}, Payload: p})
				seq++
			}
			h.src.Write(media.KindAudio, &rtp.Packet{Header: rtp.Header{SequenceNumber: aseq, Timestamp: ts}, Payload: []byte{0xfc, 1}})
			aseq++
			ts += 900
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done }) }
	t.Cleanup(stop)
	return stop
}

func waitTrack(t *testing.T, v *viewer, kind webrtc.RTPCodecType) *webrtc.TrackRemote {
	t.Helper()
	deadline := time.After(10 * time.Second)
	var others []*webrtc.TrackRemote
	for {
		select {
		case tr := <-v.tracks:
			if tr.Kind() == kind {
				for _, o := range others {
					v.tracks <- o
				}
				return tr
			}
			others = append(others, tr)
		case <-deadline:
			t.Fatalf("no %s track within 10 s", kind)
		}
	}
}

func TestViewerGetsTheStreamFromAKeyframe(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(t)
	v := newViewer(t)
	v.play(t, h)
	tr := waitTrack(t, v, webrtc.RTPCodecTypeVideo)
	first, _, err := tr.ReadRTP()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeH264) {
		t.Errorf("video codec %s", tr.Codec().MimeType)
	}
	if nal := first.Payload[0] & 0x1f; nal != 24 && nal != 5 && nal != 7 {
		t.Fatalf("first video packet is NAL type %d, want a keyframe's start", nal)
	}
	if a := waitTrack(t, v, webrtc.RTPCodecTypeAudio); !strings.EqualFold(a.Codec().MimeType, webrtc.MimeTypeOpus) {
		t.Errorf("audio codec %s", a.Codec().MimeType)
	}
}

// A viewer whose queue overflowed (a burst larger than it) has lost
// packets; its NACK for one is answered from the relay's cache.
func TestPacketsLostToAFullQueueAreResentOnNACK(t *testing.T) {
	h := newHarnessRelay(t, Config{}, relay.Config{QueuePackets: 4})
	stop := h.feed(t)
	v := newViewer(t)
	v.play(t, h)
	tr := waitTrack(t, v, webrtc.RTPCodecTypeVideo)
	if _, _, err := tr.ReadRTP(); err != nil {
		t.Fatal(err)
	}
	stop()
	for i := range 1000 { // far more than 4 at once, then one after the queue drained
		if i == 999 {
			time.Sleep(100 * time.Millisecond)
		}
		h.src.Write(media.KindVideo, &rtp.Packet{Header: rtp.Header{SequenceNumber: h.seq + uint16(i), Timestamp: 1 << 20}, Payload: []byte{0x41, byte(i)}})
	}
	missing := firstGap(t, tr)
	nack := &rtcp.TransportLayerNack{MediaSSRC: uint32(tr.SSRC()), Nacks: []rtcp.NackPair{{PacketID: missing}}}
	if err := v.pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			t.Fatalf("NACK for %d not answered: %v", missing, err)
		}
		if p.SequenceNumber == missing {
			return
		}
	}
}

// firstGap reads until a sequence number is skipped and returns the first
// one missing.
func firstGap(t *testing.T, tr *webrtc.TrackRemote) uint16 {
	t.Helper()
	_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
	var last uint16
	for i := 0; ; i++ {
		p, _, err := tr.ReadRTP()
		if err != nil {
			t.Fatalf("no gap seen in the burst: %v", err)
		}
		if i > 0 && p.SequenceNumber != last+1 {
			return last + 1
		}
		last = p.SequenceNumber
	}
}

func TestDeleteEndsTheViewerAndStreamEndEndsTheRest(t *testing.T) {
	h := newHarness(t, Config{})
	h.feed(t)
	a, b := newViewer(t), newViewer(t)
	a.play(t, h)
	b.play(t, h)
	waitTrack(t, a, webrtc.RTPCodecTypeVideo)
	waitTrack(t, b, webrtc.RTPCodecTypeVideo)
	req, _ := http.NewRequest(http.MethodDelete, h.http.URL+a.loc, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || h.srv.Viewers() != 1 {
		t.Fatalf("DELETE: %d, %d viewers left, want 200 and 1", resp.StatusCode, h.srv.Viewers())
	}
	h.rel.Close() // the stream ends
	waitFor(t, "the last viewer's session ends with the stream", func() bool { return h.srv.Viewers() == 0 })
	req, _ = http.NewRequest(http.MethodDelete, h.http.URL+b.loc, nil)
	if resp, err = http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("DELETE of an ended session: %d, want 404", resp.StatusCode)
		}
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
