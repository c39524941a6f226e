package wish

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/httpx"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loopbackPC is a PeerConnection with every default codec whose ICE runs
// on one UDP port on 127.0.0.1, so the tests look nothing up and leave no
// interface but loopback. states receives its ICE connection states.
func loopbackPC(t *testing.T, servers ...webrtc.ICEServer) (*webrtc.PeerConnection, <-chan webrtc.ICEConnectionState) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	se := webrtc.SettingEngine{LoggerFactory: quiet}
	se.SetICEUDPMux(mux)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close(); _ = mux.Close(); _ = conn.Close() })
	states := make(chan webrtc.ICEConnectionState, 32)
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		select {
		case states <- s:
		default:
		}
	})
	return pc, states
}

// client is the other side: a publisher's or a viewer's PeerConnection.
type client struct {
	pc     *webrtc.PeerConnection
	states <-chan webrtc.ICEConnectionState
	offer  string
}

// newClient builds a client that offers one video track in direction
// dir, its candidates gathered.
func newClient(t *testing.T, dir webrtc.RTPTransceiverDirection) *client {
	t.Helper()
	pc, states := loopbackPC(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
		t.Fatal(err)
	}
	c := &client{pc: pc, states: states}
	c.offer = c.gatheredOffer(t, nil)
	return c
}

func (c *client) gatheredOffer(t *testing.T, opts *webrtc.OfferOptions) string {
	t.Helper()
	o, err := c.pc.CreateOffer(opts)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return c.pc.LocalDescription().SDP
}

// accept applies an answer as the client's remote description.
func (c *client) accept(t *testing.T, answer string) {
	t.Helper()
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
}

// waitICE waits for state on states, the connection's ICE states in order.
func waitICE(t *testing.T, what string, states <-chan webrtc.ICEConnectionState, state webrtc.ICEConnectionState) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-states:
			if s == state {
				return
			}
		case <-timeout:
			t.Fatalf("%s: ICE not %s within 10 s", what, state)
		}
	}
}

// server is a Peer over a loopback PeerConnection, with what it logged.
type server struct {
	*Peer
	states <-chan webrtc.ICEConnectionState
}

const rewritten = "a=x-castnet-rewritten"

func newServer(t *testing.T, gather time.Duration, servers ...webrtc.ICEServer) *server {
	t.Helper()
	pc, states := loopbackPC(t, servers...)
	// Rewrite marks the answer, as whip's rate hints do, after pion wrote it.
	rewrite := func(sdp string) string { return sdp + rewritten + "\r\n" }
	return &server{Peer: NewPeer(pc, PeerConfig{GatherTimeout: gather, Rewrite: rewrite}), states: states}
}

// silentSTUN is a STUN server on loopback that never answers: gathering
// from it waits out pion's STUN timeout, seconds.
func silentSTUN(t *testing.T) webrtc.ICEServer {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return webrtc.ICEServer{URLs: []string{"stun:" + conn.LocalAddr().String()}}
}

// connected sets up a session between a new client and a new server, as
// a POST does, and waits for ICE on both sides.
func connected(t *testing.T) (*client, *server, string) {
	t.Helper()
	c, s := newClient(t, webrtc.RTPTransceiverDirectionSendonly), newServer(t, 5*time.Second)
	answer, err := s.Answer(context.Background(), c.offer)
	if err != nil {
		t.Fatal(err)
	}
	c.accept(t, answer)
	waitICE(t, "client", c.states, webrtc.ICEConnectionStateConnected)
	waitICE(t, "server", s.states, webrtc.ICEConnectionStateConnected)
	return c, s, answer
}

// TestPeerAnswer: the answer comes gathered (candidates and
// end-of-candidates, since the server does not trickle), rewritten, with
// no RTCP candidate under rtcp-mux, and the client connects with it; the
// Peer keeps the offer's ICE credentials and a strong ETag.
func TestPeerAnswer(t *testing.T) {
	c, s, answer := connected(t)
	for _, want := range []string{"a=candidate:", "a=end-of-candidates", "a=rtcp-mux", rewritten} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer lacks %q:\n%s", want, answer)
		}
	}
	for _, l := range strings.Split(answer, "\n") {
		if isRTCPCandidate(l) {
			t.Errorf("answer has an RTCP candidate: %s", l)
		}
	}
	if want, _ := OfferCreds(c.offer); s.ICE() != want {
		t.Errorf("ICE() = %+v, want the offer's %+v", s.ICE(), want)
	}
	if et := s.ETag(); len(et) != 34 || et[0] != '"' || et[33] != '"' {
		t.Errorf("ETag %q: want a quoted 128-bit tag", et)
	}
	if s.PC() == nil {
		t.Error("PC() is nil")
	}
}

// TestPeerAnswerRefusals: an offer without ICE credentials is a bad
// request, one pion cannot answer is ErrNoCodec (422), and a PeerConnection
// that cannot gather in time is ErrGatherTimeout (504) or the request's
// own end.
func TestPeerAnswerRefusals(t *testing.T) {
	offer := newClient(t, webrtc.RTPTransceiverDirectionSendonly).offer
	noCreds := strings.NewReplacer("a=ice-ufrag:", "a=x-ufrag:", "a=ice-pwd:", "a=x-pwd:").Replace(offer)
	noFingerprint := strings.ReplaceAll(offer, "a=fingerprint:", "a=x-fingerprint:")
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		gather  time.Duration
		offer   string
		servers int // silent STUN servers: gathering does not end by itself
		want    error
		status  int
	}{
		{"no ice credentials", context.Background(), time.Second, noCreds, 0, ErrBadSDP, 400},
		{"no fingerprint", context.Background(), time.Second, noFingerprint, 0, ErrNoCodec, 422},
		{"gathering too slow", context.Background(), 100 * time.Millisecond, offer, 1, ErrGatherTimeout, 504},
		{"request ended while gathering", ended, time.Minute, offer, 1, context.Canceled, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var servers []webrtc.ICEServer
			for range tc.servers {
				servers = append(servers, silentSTUN(t))
			}
			_, err := newServer(t, tc.gather, servers...).Answer(tc.ctx, tc.offer)
			if !errors.Is(err, tc.want) || httpx.StatusOf(err) != tc.status {
				t.Fatalf("err %v (%d), want %v (%d)", err, httpx.StatusOf(err), tc.want, tc.status)
			}
		})
	}
}

// fragmentOf builds a trickle-ice-sdpfrag as clients send it.
func fragmentOf(c ICECreds, candidates ...string) string {
	s := "a=ice-ufrag:" + c.Ufrag + "\r\na=ice-pwd:" + c.Pwd + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
	for _, cand := range candidates {
		s += "a=candidate:" + cand + "\r\n"
	}
	return s
}

func parse(t *testing.T, frag string) Fragment {
	t.Helper()
	f, err := ParseFragment([]byte(frag))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const hostCandidate = "1 1 udp 2130706431 127.0.0.1 40000 typ host"

// TestPeerPatchRefusals: every PATCH the rules of RFC 9725 §4.3 refuse
// gets its status and changes nothing: the ETag and credentials stay, no
// candidate is applied, and the session stays connected.
func TestPeerPatchRefusals(t *testing.T) {
	_, s, _ := connected(t)
	cur, etag := s.ICE(), s.ETag()
	fresh := ICECreds{"newufrag1", "newpasswordnewpassword12"}
	tests := []struct {
		name, ifMatch, frag string
		want                error
		status              int
	}{
		{"restart without If-Match", "", fragmentOf(fresh), ErrNoIfMatch, http.StatusPreconditionRequired},
		{"restart with a stale ETag", `"stale"`, fragmentOf(fresh), ErrETagMismatch, http.StatusPreconditionFailed},
		{"trickle with a stale ETag", `"stale"`, fragmentOf(cur, hostCandidate), ErrETagMismatch, http.StatusPreconditionFailed},
		{"ufrag null (whip-whep)", "*", fragmentOf(ICECreds{"null", "null"}, hostCandidate), ErrNotThisICESession, http.StatusUnprocessableEntity},
		{"new ufrag with the old pwd", etag, fragmentOf(ICECreds{fresh.Ufrag, cur.Pwd}, hostCandidate), ErrNotThisICESession, http.StatusUnprocessableEntity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Patch(context.Background(), tc.ifMatch, parse(t, tc.frag))
			if !errors.Is(err, tc.want) || httpx.StatusOf(err) != tc.status {
				t.Fatalf("err %v (%d), want %v (%d)", err, httpx.StatusOf(err), tc.want, tc.status)
			}
			if res != (PatchResult{}) {
				t.Errorf("refused PATCH has result %+v", res)
			}
		})
	}
	if applied, discarded := s.Trickled(); s.ETag() != etag || s.ICE() != cur || applied+discarded != 0 {
		t.Errorf("refusals changed the session: ETag %q ICE %+v trickled %d/%d", s.ETag(), s.ICE(), applied, discarded)
	}
	if st := s.PC().ICEConnectionState(); st != webrtc.ICEConnectionStateConnected {
		t.Errorf("ICE %s after the refusals", st)
	}
}

// TestPeerPatchTrickle: candidates with the session's credentials (or
// none) go to ICE with 204; one ICE cannot take is discarded and counted
// while the rest apply (RFC 9725 §4.3.2), a bracketed IPv6 address
// included; the ETag stays.
func TestPeerPatchTrickle(t *testing.T) {
	_, s, _ := connected(t)
	etag := s.ETag()
	frags := []struct{ ifMatch, frag string }{
		{etag, fragmentOf(s.ICE(), hostCandidate, "2 1 udp 2122260223 [::1] 61764 typ host")},
		{"*", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=candidate:5 1 udp\r\na=end-of-candidates\r\n"},
		{"", fragmentOf(s.ICE(), "3 1 udp 2122194687 127.0.0.2 61765 typ host")},
	}
	for _, f := range frags {
		res, err := s.Patch(context.Background(), f.ifMatch, parse(t, f.frag))
		if err != nil || res.Restarted {
			t.Fatalf("trickle %q: %+v %v", f.frag, res, err)
		}
	}
	if applied, discarded := s.Trickled(); applied != 3 || discarded != 1 {
		t.Errorf("trickled %d discarded %d, want 3 and the cut-short one", applied, discarded)
	}
	if s.ETag() != etag {
		t.Errorf("trickle changed the ETag from %q to %q", etag, s.ETag())
	}
}

// TestPeerPatchRestart: a real client ICE restart (RFC 9725 §4.3.3). The
// client offers new credentials, PATCHes them with If-Match, and joins the
// answer's fragment into its remote description as browsers do; ICE
// checks again with the new credentials on both sides and connects. The
// restart's ETag replaces the old one, which no longer matches.
func TestPeerPatchRestart(t *testing.T) {
	for _, ifMatch := range []string{"*", "the current ETag"} {
		t.Run(ifMatch, func(t *testing.T) {
			c, s, answer := connected(t)
			oldETag := s.ETag()
			if ifMatch != "*" {
				ifMatch = oldETag
			}
			fresh, err := OfferCreds(c.gatheredOffer(t, &webrtc.OfferOptions{ICERestart: true}))
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Patch(context.Background(), ifMatch, parse(t, fragmentOf(fresh)))
			if err != nil || !res.Restarted {
				t.Fatalf("restart: %+v %v", res, err)
			}
			checkRestartResult(t, s, res, oldETag, fresh)
			local := parse(t, res.Fragment)
			again, err := replaceICECredentials(answer, local.Ufrag, local.Pwd)
			if err != nil {
				t.Fatal(err)
			}
			c.accept(t, again)
			waitICE(t, "server after the restart", s.states, webrtc.ICEConnectionStateChecking)
			waitICE(t, "server after the restart", s.states, webrtc.ICEConnectionStateConnected)
			if _, err := s.Patch(context.Background(), oldETag, parse(t, fragmentOf(fresh, hostCandidate))); !errors.Is(err, ErrETagMismatch) {
				t.Errorf("PATCH with the replaced ETag: %v, want ErrETagMismatch", err)
			}
		})
	}
}

// checkRestartResult: the 200's fragment has new local credentials and
// component-1 candidates only, the ETag is new, and the Peer holds the
// client's new credentials.
func checkRestartResult(t *testing.T, s *server, res PatchResult, oldETag string, fresh ICECreds) {
	t.Helper()
	if res.ETag == oldETag || res.ETag != s.ETag() {
		t.Errorf("restart ETag %q (old %q, Peer's %q)", res.ETag, oldETag, s.ETag())
	}
	local := parse(t, res.Fragment)
	if local.Ufrag == "" || len(local.Candidates) == 0 || !strings.HasPrefix(res.Fragment, "m=") {
		t.Errorf("restart fragment:\n%s", res.Fragment)
	}
	for _, l := range strings.Split(res.Fragment, "\n") {
		if isRTCPCandidate(l) {
			t.Errorf("restart fragment has an RTCP candidate: %s", l)
		}
	}
	if s.ICE() != fresh {
		t.Errorf("ICE() = %+v after the restart, want %+v", s.ICE(), fresh)
	}
}

// TestPeerConcurrentReads: ETag, ICE and Trickled may be read while a
// PATCH applies (whip's Stats does, from the broadcaster's goroutine).
func TestPeerConcurrentReads(t *testing.T) {
	_, s, _ := connected(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_, _, _ = s.ETag(), s.ICE(), s.PC()
				_, _ = s.Trickled()
			}
		}
	}()
	for range 20 {
		if _, err := s.Patch(context.Background(), "*", parse(t, fragmentOf(s.ICE(), hostCandidate))); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}
