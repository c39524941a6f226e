package publish

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// whipServer is a minimal WHIP endpoint (RFC 9725) built on pion for the
// tests: it answers offers after gathering all candidates, counts the RTP
// packets it receives per kind, and tears sessions down on DELETE.
type whipServer struct {
	t      *testing.T
	api    *webrtc.API
	token  string // required bearer token, "" for none
	reject int    // answer every offer with this status, 0 to accept
	// unreachable strips the candidates from offers and answers, so that
	// neither side can reach the other and ICE never connects.
	unreachable bool
	srv         *httptest.Server
	udp         *switchConn // every session's media goes through it
	mux         ice.UDPMux

	mu       sync.Mutex
	sessions map[string]*webrtc.PeerConnection
	offers   int

	deletes     atomic.Int32
	patches     atomic.Int32 // PATCHes of a live session
	videoRTP    atomic.Int64
	audioRTP    atomic.Int64
	badDeletes  atomic.Int32 // DELETEs of unknown sessions or without the token
	linkServers []string     // Link header values sent with each 201

	// onRTP, when set before the first offer, sees every RTP packet
	// received, from one goroutine per track.
	onRTP func(kind webrtc.RTPCodecType, pkt *rtp.Packet)
}

func newWHIPServer(t *testing.T) *whipServer {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp := &switchConn{PacketConn: conn}
	mux := webrtc.NewICEUDPMux(nil, udp)
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEUDPMux(mux)
	s := &whipServer{
		t:        t,
		udp:      udp,
		mux:      mux,
		api:      webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)),
		sessions: map[string]*webrtc.PeerConnection{},
		linkServers: []string{
			`<stun:127.0.0.1:3478>; rel="ice-server"`,
			`<turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="user"; credential="pass"; credential-type="password"`,
		},
	}
	routes := http.NewServeMux()
	routes.HandleFunc("POST /whip/{stream}", s.offer)
	routes.HandleFunc("DELETE /whip/{stream}/{id}", s.delete)
	routes.HandleFunc("PATCH /whip/{stream}/{id}", s.patch)
	s.srv = httptest.NewServer(routes)
	t.Cleanup(s.close)
	return s
}

// url is the WHIP endpoint for stream.
func (s *whipServer) url(stream string) string { return s.srv.URL + "/whip/" + stream }

func (s *whipServer) authorized(r *http.Request) bool {
	return s.token == "" || r.Header.Get("Authorization") == "Bearer "+s.token
}

func (s *whipServer) offer(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.offers++
	s.mu.Unlock()
	if !s.authorized(r) {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if s.reject != 0 {
		http.Error(w, "stream "+r.PathValue("stream")+" is already live", s.reject)
		return
	}
	if r.Header.Get("Content-Type") != "application/sdp" {
		http.Error(w, "want application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(r.Body)
	offer := string(body)
	if s.unreachable {
		offer = stripCandidates(offer)
	}
	answer, id, err := s.accept(offer)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.unreachable {
		answer = stripCandidates(answer)
	}
	for _, l := range s.linkServers {
		w.Header().Add("Link", l)
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+r.PathValue("stream")+"/"+id) // relative, as servers often send
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// accept answers offer once gathering is complete, since WHIP servers
// cannot trickle.
func (s *whipServer) accept(offer string) (answer, id string, err error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		counter := &s.audioRTP
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			counter = &s.videoRTP
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			counter.Add(1)
			if s.onRTP != nil {
				s.onRTP(tr.Kind(), pkt)
			}
		}
	})
	if err := s.negotiate(pc, offer); err != nil {
		pc.Close()
		return "", "", err
	}
	id = rand.Text()
	s.mu.Lock()
	s.sessions[id] = pc
	s.mu.Unlock()
	return pc.LocalDescription().SDP, id, nil
}

func (s *whipServer) negotiate(pc *webrtc.PeerConnection, offer string) error {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return err
	}
	<-gathered
	return nil
}

func (s *whipServer) delete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	pc, ok := s.sessions[r.PathValue("id")]
	delete(s.sessions, r.PathValue("id"))
	s.mu.Unlock()
	if !ok || !s.authorized(r) {
		s.badDeletes.Add(1)
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	if err := pc.GracefulClose(); err != nil {
		s.t.Errorf("closing server session: %v", err)
	}
	s.deletes.Add(1)
	w.WriteHeader(http.StatusOK)
}

// patch takes a trickle fragment for a live session and does nothing with
// it, which is all an end-of-candidates asks.
func (s *whipServer) patch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	_, ok := s.sessions[r.PathValue("id")]
	s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	switch {
	case !ok || !s.authorized(r):
		http.Error(w, "no such session", http.StatusNotFound)
	case r.Header.Get("Content-Type") != "application/trickle-ice-sdpfrag" || !strings.Contains(string(body), "a=ice-ufrag:"):
		http.Error(w, "want a trickle fragment", http.StatusBadRequest)
	default:
		s.patches.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}
}

// kill stops the server as SIGKILL would: its media socket goes silent
// at once, so not even a DTLS close_notify gets out, and its HTTP port
// refuses connections.
func (s *whipServer) kill() {
	s.udp.dropping.Store(true)
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.closeSessions(true)
}

// endSessions ends every session as a node does when a publisher's
// balance runs out: the PeerConnection closes, which sends a DTLS
// close_notify, and the session URL answers 404 from then on. Quietly,
// the close_notify is lost on the way.
func (s *whipServer) endSessions(quietly bool) {
	s.udp.dropping.Store(quietly)
	s.closeSessions(true)
}

// silence breaks the media path while HTTP still works: the session URL
// still answers.
func (s *whipServer) silence() { s.udp.dropping.Store(true) }

func (s *whipServer) closeSessions(forget bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, pc := range s.sessions {
		pc.Close()
		if forget {
			delete(s.sessions, id)
		}
	}
}

// switchConn is the server's UDP socket with a switch that drops all
// traffic, in and out, as a dead host or a broken path does.
type switchConn struct {
	net.PacketConn
	dropping atomic.Bool
}

func (c *switchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.dropping.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *switchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.dropping.Load() {
			return n, addr, err
		}
	}
}

func stripCandidates(sdp string) string {
	var keep []string
	for _, l := range strings.SplitAfter(sdp, "\n") {
		if !strings.HasPrefix(l, "a=candidate:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// close ends the HTTP server, every session still open and the media
// socket.
func (s *whipServer) close() {
	s.srv.Close()
	s.mu.Lock()
	for id, pc := range s.sessions {
		pc.GracefulClose()
		delete(s.sessions, id)
	}
	s.mu.Unlock()
	s.mux.Close()
}

func (s *whipServer) String() string {
	return fmt.Sprintf("video RTP %d, audio RTP %d, deletes %d", s.videoRTP.Load(), s.audioRTP.Load(), s.deletes.Load())
}
