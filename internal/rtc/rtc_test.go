package rtc

import (
	"github.com/pion/interceptor"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

func TestParseICEServer(t *testing.T) {
	tests := []struct {
		in      string
		want    ICEServer
		wantErr bool
	}{
		{in: "stun:stun.example.net:3478", want: ICEServer{URL: "stun:stun.example.net:3478"}},
		{in: "turn:t.example.net:3478?transport=udp,alice,s3cret",
			want: ICEServer{URL: "turn:t.example.net:3478?transport=udp", Username: "alice", Credential: "s3cret"}},
		{in: "http://example.net", wantErr: true},
		{in: "turn:t.example.net,onlyuser", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseICEServer(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseICEServer(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestLinkHeader(t *testing.T) {
	got := ICEServer{URL: "turn:t:3478", Username: `a"b`, Credential: "c"}.LinkHeader()
	want := `<turn:t:3478>; rel="ice-server"; username="ab"; credential="c"; credential-type="password"`
	if got != want {
		t.Errorf("LinkHeader = %s, want %s", got, want)
	}
}

// answer negotiates a sendonly H.264+Opus offer (VP8 listed first, as
// browsers do) against r and returns the answer SDP.
func answer(t *testing.T, r *RTC) string {
	t.Helper()
	return answerTo(t, r, false)
}

// answerTo is answer; with browserLike the offer also carries what
// browsers offer for congestion control (the transport-wide sequence
// number extension and transport-cc feedback).
func answerTo(t *testing.T, r *RTC, browserLike bool) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if browserLike {
		if err := webrtc.RegisterDefaultInterceptors(me, &interceptor.Registry{}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := client.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := r.API().NewPeerConnection(r.Configuration())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	ans, err := srv.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(srv)
	if err := srv.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	<-done
	return srv.LocalDescription().SDP
}

func TestAnswerPrefersH264OverVP8(t *testing.T) {
	r, err := New(Config{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sdp := answer(t, r)
	if !strings.Contains(sdp, "H264/90000") || strings.Contains(sdp, "VP8") || !strings.Contains(sdp, "opus/48000") {
		t.Errorf("answer does not select H.264 and Opus only:\n%s", sdp)
	}
	if !strings.Contains(sdp, "packetization-mode=1") {
		t.Errorf("answer H.264 is not packetization-mode=1:\n%s", sdp)
	}
}

// TestAnswerAsksForTransportWideFeedback: a browser that offers
// transport-wide congestion control gets it (and no REMB, which the node
// never sends), and the answer as sent carries the rate hints.
func TestAnswerAsksForTransportWideFeedback(t *testing.T) {
	r, err := New(Config{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sdp := r.Answer(answerTo(t, r, true))
	for _, want := range []string{"transport-cc", "transport-wide-cc-extensions-01",
		"x-google-start-bitrate=2500", "x-google-max-bitrate=4000"} {
		if !strings.Contains(sdp, want) {
			t.Errorf("answer lacks %s:\n%s", want, sdp)
		}
	}
	if strings.Contains(sdp, "goog-remb") {
		t.Errorf("answer promises REMB:\n%s", sdp)
	}
}

// TestOneUDPPortAndNATAddress: every candidate is the single muxed port,
// advertised with the configured public address.
func TestOneUDPPortAndNATAddress(t *testing.T) {
	r, err := New(Config{UDPAddr: "127.0.0.1:0", NATIPs: []string{"203.0.113.7"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	port := r.UDPAddr().String()[strings.LastIndex(r.UDPAddr().String(), ":")+1:]
	sdp := answer(t, r)
	var cands []string
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, "a=candidate:") && strings.Contains(l, " udp ") {
			cands = append(cands, l)
		}
	}
	if len(cands) == 0 {
		t.Fatalf("no UDP candidates:\n%s", sdp)
	}
	for _, c := range cands {
		if !strings.Contains(c, " 203.0.113.7 "+port+" ") {
			t.Errorf("candidate %q: want the NAT address 203.0.113.7 on the muxed port %s", c, port)
		}
	}
}

func TestSharedUDPSocketGetsALargeReceiveBuffer(t *testing.T) {
	r, err := New(Config{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	raw, err := r.conn.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	if err := raw.Control(func(fd uintptr) { got = granted(fd) }); err != nil {
		t.Fatal(err)
	}
	// As root SO_RCVBUFFORCE lifts the cap; otherwise the kernel grants
	// up to net.core.rmem_max.
	want := 1 << 20
	if os.Geteuid() != 0 {
		b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
		if err != nil {
			t.Skip("no /proc/sys/net/core/rmem_max")
		}
		if max, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && max/2 < want {
			want = max / 2
		}
	}
	if got < want {
		t.Fatalf("receive buffer %d bytes, want ≥ %d", got, want)
	}
}
