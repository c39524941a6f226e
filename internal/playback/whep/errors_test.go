package whep

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/relay"
	"github.com/castnet/castnet/internal/rtc"
)

// recvOffer is a browser-shaped recvonly offer (as Chromium writes one
// for two recvonly transceivers), cut to what castnet reads.
const recvOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=rtcp-mux\r\n" +
	"a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:96 VP8/90000\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"

func TestRefusals(t *testing.T) {
	h := newHarness(t, Config{})
	for _, tc := range []struct {
		name, path, ctype, body string
		want                    int
		says                    string
	}{
		{"stream nobody publishes", "/whep/nobody", "application/sdp", recvOffer, http.StatusConflict, "not live"},
		{"bad stream name", "/whep/a%20b", "application/sdp", recvOffer, http.StatusBadRequest, "stream names"},
		{"wrong content type", "/whep/cam", "text/plain", recvOffer, http.StatusUnsupportedMediaType, ""},
		{"unparsable SDP", "/whep/cam", "application/sdp", "hello", http.StatusBadRequest, "unparsable"},
		{"a sending offer", "/whep/cam", "application/sdp", strings.ReplaceAll(recvOffer, "recvonly", "sendonly"), http.StatusUnprocessableEntity, "recvonly"},
		{"VP8 only", "/whep/cam", "application/sdp", strings.ReplaceAll(recvOffer, "H264", "VP9"), http.StatusUnprocessableEntity, "H264"},
		{"two video sections", "/whep/cam", "application/sdp", strings.Replace(recvOffer, "m=audio", "m=video", 1), http.StatusUnprocessableEntity, "more than one"},
		{"a rendition the stream lacks", "/whep/cam?rendition=1080p", "application/sdp", recvOffer, http.StatusNotFound, "no rendition"},
		{"a bad rendition name", "/whep/cam?rendition=A.B", "application/sdp", recvOffer, http.StatusBadRequest, "rendition names"},
		{"no ICE credentials", "/whep/cam", "application/sdp", strings.NewReplacer("a=ice-ufrag:abcd\r\n", "", "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n", "").Replace(recvOffer), http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, h.http.URL+tc.path, tc.ctype, tc.body)
			if resp.StatusCode != tc.want || !strings.Contains(body, tc.says) {
				t.Fatalf("%d %q, want %d saying %q", resp.StatusCode, body, tc.want, tc.says)
			}
			if tc.want == http.StatusConflict && resp.Header.Get("Retry-After") == "" {
				t.Error("409 without Retry-After")
			}
		})
	}
	if h.srv.Viewers() != 0 {
		t.Errorf("%d sessions left by refused POSTs", h.srv.Viewers())
	}
}

func TestViewerLimitsAnswer503WithRetryAfter(t *testing.T) {
	for _, cfg := range []Config{{MaxStreamViewers: 1}, {MaxViewers: 1}} {
		h := newHarness(t, cfg)
		newViewer(t).play(t, h)
		resp, body := post(t, h.http.URL+"/whep/cam", "application/sdp", newViewer(t).offer(t))
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%+v: second viewer got %d (Retry-After %q): %s", cfg, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
}

// A viewer refused by the limits starts nothing: a rung's relay (its
// feed, an ffmpeg at the broadcaster) is not even looked up.
func TestARefusedViewerStartsNoFeed(t *testing.T) {
	h := newHarness(t, Config{MaxViewers: 1})
	newViewer(t).play(t, h)
	resp, body := post(t, h.http.URL+"/whep/cam?rendition=360p", "application/sdp", newViewer(t).offer(t))
	src := h.srv.cfg.Sources.(*sources)
	src.mu.Lock()
	asked := src.asked
	src.mu.Unlock()
	if resp.StatusCode != http.StatusServiceUnavailable || asked != 0 {
		t.Fatalf("over the limit: %d %q, %d rendition lookups; want 503 and none", resp.StatusCode, body, asked)
	}
}

func TestSessionRoutesNeedTheSessionsID(t *testing.T) {
	h := newHarness(t, Config{})
	for _, m := range []string{http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, h.http.URL+"/whep/cam/0123456789abcdef0123456789abcdef", strings.NewReader("a=end-of-candidates\r\n"))
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s of an unknown session: %d, want 404", m, resp.StatusCode)
		}
	}
	resp, err := http.Get(h.http.URL + "/whep/cam")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestTrickleAndICERestartOverPATCH(t *testing.T) {
	h := newHarness(t, Config{})
	v := newViewer(t)
	v.play(t, h)
	req, _ := http.NewRequest(http.MethodPatch, h.http.URL+v.loc, strings.NewReader("a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("trickle PATCH: %d, want 204", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPatch, h.http.URL+v.loc, strings.NewReader("a=ice-ufrag:wxyz\r\na=ice-pwd:0123456789012345678901234\r\n"))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	req.Header.Set("If-Match", "*")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
		t.Errorf("ICE restart PATCH: %d, ETag %q; want 200 with a new ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

// FuzzCheckOffer: any bytes give an error or an offer with media.
func FuzzCheckOffer(f *testing.F) {
	f.Add([]byte(recvOffer))
	f.Add([]byte(strings.ReplaceAll(recvOffer, "recvonly", "sendrecv")))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := CheckOffer(b)
		if err == nil && !o.Video && !o.Audio {
			t.Fatal("accepted an offer with no media")
		}
	})
}

// FuzzPost drives the POST handler with any stream name, content type and
// body against a stream that is live; whatever it is sent, it answers a
// status below 500 and leaves no session behind for what it refused.
func FuzzPost(f *testing.F) {
	r, err := rtc.New(rtc.Config{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	rel := relay.New(relay.Config{})
	defer rel.Close()
	srv, err := New(Config{RTC: r, Sources: &sources{relays: map[string]*relay.Relay{"cam": rel}}})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	f.Add("cam", "application/sdp", []byte(recvOffer))
	f.Add("cam", "application/sdp", []byte("v=0"))
	f.Add("../x", "text/plain", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, stream, ctype string, body []byte) {
		if strings.Contains(string(body), "ice-ufrag") {
			return // a valid offer would build a real PeerConnection per input
		}
		req, err := http.NewRequest("POST", "http://x/whep/"+stream, strings.NewReader(string(body)))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code < 300 || w.Code >= 500 {
			t.Fatalf("status %d for stream %q ctype %q: %s", w.Code, stream, ctype, w.Body.String())
		}
	})
}
