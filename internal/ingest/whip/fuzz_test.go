package whip

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/rtc"
)

const seedOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n"

// FuzzCheckOffer: any bytes give either an error or an offer castnet can
// ingest, never a panic.
func FuzzCheckOffer(f *testing.F) {
	f.Add([]byte(seedOffer))
	f.Add([]byte(strings.ReplaceAll(seedOffer, "H264", "VP8")))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := CheckOffer(b)
		if err == nil && info.Video == "" && info.Audio == "" {
			t.Fatal("accepted an offer with no media")
		}
		if err == nil && (info.Ufrag == "" || info.Pwd == "") {
			t.Fatal("accepted an offer without ICE credentials")
		}
	})
}

// FuzzPost drives the whole POST handler with arbitrary headers and bodies;
// the starter refuses, so no PeerConnection is built. Every answer must be
// a 4xx with a reason (or a redirect to a clean path), never a 5xx or a panic.
func FuzzPost(f *testing.F) {
	r, err := rtc.New(rtc.Config{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	srv, err := New(Config{RTC: r, Token: "t", Starter: starterFunc(func(context.Context, Publish) (Sink, error) {
		return nil, errors.Join(errors.New("refused by the fuzz starter"), httpx.ErrForbidden)
	})})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	f.Add("cam", "application/sdp", "Bearer t", []byte(seedOffer))
	f.Add("cam", "application/sdp; charset=x", "bearer t", []byte("v=0"))
	f.Add("../x", "text/plain", "", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, stream, ctype, auth string, body []byte) {
		req, err := http.NewRequest("POST", "http://x/whip/"+stream, strings.NewReader(string(body)))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code < 300 || w.Code >= 500 { // 3xx: the mux redirects unclean paths
			t.Fatalf("status %d for stream %q ctype %q: %s", w.Code, stream, ctype, w.Body.String())
		}
		if w.Body.Len() == 0 && w.Code >= 400 {
			t.Fatalf("status %d without a reason", w.Code)
		}
	})
}
