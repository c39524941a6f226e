package whip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/rtc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSink records what a session delivers.
type fakeSink struct {
	mu     sync.Mutex
	units  []media.AccessUnit
	closed chan error
}

func (f *fakeSink) WriteAccessUnit(au media.AccessUnit) {
	f.mu.Lock()
	f.units = append(f.units, au)
	f.mu.Unlock()
}
func (f *fakeSink) Close(err error) { f.closed <- err }

// starterFunc adapts a function to Starter.
type starterFunc func(ctx context.Context, p Publish) (Sink, error)

func (f starterFunc) StartStream(ctx context.Context, p Publish) (Sink, error) { return f(ctx, p) }

// admitterFunc adapts a function to Admitter.
type admitterFunc func(r *http.Request, stream string) (Commit, error)

func (f admitterFunc) Admit(r *http.Request, stream string) (Commit, error) { return f(r, stream) }

func (f admitterFunc) Owner(*http.Request, string) string { return "" }

type harness struct {
	srv   *Server
	http  *httptest.Server
	sinks chan *fakeSink
}

// newHarness serves a WHIP server on loopback with no STUN or TURN
// servers: gathering then looks nothing up and stays on loopback.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	return newHarnessICE(t, cfg, nil)
}

// newHarnessICE is newHarness with ICE servers, which the node announces
// in Link headers and also gathers from (a DNS lookup each).
func newHarnessICE(t *testing.T, cfg Config, servers []rtc.ICEServer) *harness {
	t.Helper()
	r, err := rtc.New(rtc.Config{UDPAddr: "127.0.0.1:0", ICEServers: servers})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{sinks: make(chan *fakeSink, 16)}
	cfg.RTC = r
	if cfg.Starter == nil {
		cfg.Starter = starterFunc(func(ctx context.Context, p Publish) (Sink, error) {
			s := &fakeSink{closed: make(chan error, 1)}
			h.sinks <- s
			return s, nil
		})
	}
	if h.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	h.http = httptest.NewServer(h.srv.Handler())
	t.Cleanup(func() {
		h.http.Close()
		_ = h.srv.Close()
		_ = r.Close()
	})
	return h
}

// offer makes a real browser-like offer with pion: sendonly tracks with the
// given video codec ("" for none) and audio.
func offer(t *testing.T, videoMime string, videos, audios int) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if videoMime == webrtc.MimeTypeH264 {
		// Every default codec, VP8 first, as browsers offer.
		if err := me.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, c := range []struct {
			mime string
			pt   webrtc.PayloadType
			kind webrtc.RTPCodecType
		}{{videoMime, 96, webrtc.RTPCodecTypeVideo}, {webrtc.MimeTypeOpus, 111, webrtc.RTPCodecTypeAudio}} {
			rate := uint32(90000)
			if c.kind == webrtc.RTPCodecTypeAudio {
				rate = 48000
			}
			if err := me.RegisterCodec(webrtc.RTPCodecParameters{
				RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: rate},
				PayloadType:        c.pt}, c.kind); err != nil {
				t.Fatal(err)
			}
		}
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for range videos {
		tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: videoMime}, "v", "s")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	for range audios {
		tr, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "a", "s")
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

func do(t *testing.T, method, url, ctype, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(t *testing.T, r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestPostRefusals(t *testing.T) {
	h := newHarness(t, Config{Token: "sekret"})
	good := offer(t, webrtc.MimeTypeH264, 1, 1)
	auth := map[string]string{"Authorization": "Bearer sekret"}
	tests := []struct {
		name, path, ctype, body string
		hdr                     map[string]string
		status                  int
		reason                  string
	}{
		{"no token", "/whip/cam", "application/sdp", good, nil, 401, "bearer token"},
		{"wrong token", "/whip/cam", "application/sdp", good, map[string]string{"Authorization": "Bearer nope"}, 401, "bearer token"},
		{"wrong content type", "/whip/cam", "text/plain", good, auth, 415, "application/sdp"},
		{"bad stream name", "/whip/bad.name", "application/sdp", good, auth, 400, "stream names"},
		{"unparsable sdp", "/whip/cam", "application/sdp", "hello", auth, 400, "unparsable"},
		{"vp8 only", "/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeVP8, 1, 1), auth, 422, "VP8"},
		{"two video tracks", "/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeH264, 2, 1), auth, 422, "more than one"},
		{"recvonly offer", "/whip/cam", "application/sdp", strings.ReplaceAll(good, "a=sendonly", "a=recvonly"), auth, 422, "recvonly"},
		{"body too large", "/whip/cam", "application/sdp", strings.Repeat("v=0\r\n", 20000), auth, 413, "over"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, "POST", h.http.URL+tc.path, tc.ctype, tc.body, tc.hdr)
			got := body(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(got, tc.reason) {
				t.Fatalf("status %d body %q, want %d containing %q", resp.StatusCode, got, tc.status, tc.reason)
			}
		})
	}
}

func TestPostCreatesSession(t *testing.T) {
	h := newHarnessICE(t, Config{}, []rtc.ICEServer{{URL: "stun:stun.example.net:3478"},
		{URL: "turn:turn.example.net:3478?transport=udp", Username: "u", Credential: "p"}})
	resp := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 1), nil)
	answer := body(t, resp)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, answer)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/whip/cam/") || len(loc) != len("/whip/cam/")+32 {
		t.Errorf("Location %q: want /whip/cam/ + 128-bit id", loc)
	}
	if et := resp.Header.Get("ETag"); !strings.HasPrefix(et, `"`) || len(et) < 10 {
		t.Errorf("ETag %q: want a strong quoted tag", et)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type %q", ct)
	}
	links := resp.Header.Values("Link")
	if len(links) != 2 || links[0] != `<stun:stun.example.net:3478>; rel="ice-server"` ||
		!strings.Contains(links[1], `username="u"; credential="p"; credential-type="password"`) {
		t.Errorf("Link headers %q", links)
	}
	for _, want := range []string{"H264", "opus", "a=recvonly", "a=candidate:", "a=end-of-candidates"} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer lacks %q", want)
		}
	}
	if strings.Contains(answer, "VP8") {
		t.Error("answer accepted VP8: castnet ingests H.264")
	}
	sink := <-h.sinks

	again := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 1), nil)
	if again.StatusCode != http.StatusConflict {
		t.Errorf("second publisher on a live stream: status %d, want 409", again.StatusCode)
	}

	del := do(t, "DELETE", h.http.URL+loc, "", "", nil)
	if del.StatusCode != http.StatusOK {
		t.Fatalf("DELETE status %d", del.StatusCode)
	}
	select {
	case err := <-sink.closed:
		if err != nil {
			t.Errorf("clean delete closed the sink with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sink not closed after DELETE")
	}
	if gone := do(t, "DELETE", h.http.URL+loc, "", "", nil); gone.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE of an ended session: %d, want 404", gone.StatusCode)
	}
	if h.srv.Live() != 0 {
		t.Errorf("%d sessions live after DELETE", h.srv.Live())
	}
}

func TestMaxStreams(t *testing.T) {
	h := newHarness(t, Config{MaxStreams: 1})
	if r := do(t, "POST", h.http.URL+"/whip/a", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 0), nil); r.StatusCode != 201 {
		t.Fatalf("first stream: %d", r.StatusCode)
	}
	r := do(t, "POST", h.http.URL+"/whip/b", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 0), nil)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: status %d Retry-After %q, want 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if got, want := body(t, r), "503 service unavailable: node is at its stream limit: 1 of 1\n"; got != want {
		t.Errorf("over the limit: %q, want %q", got, want)
	}
}

// TestNodeNotAcceptingRefusesBeforeAdmission: while the node cannot keep
// a stream (its store cannot write), a POST is refused with the reason
// before anything is admitted or reserved.
func TestNodeNotAcceptingRefusesBeforeAdmission(t *testing.T) {
	admitted := false
	full := fmt.Errorf("the store cannot write: no space left on device: %w", httpx.ErrInsufficientStorage)
	h := newHarness(t, Config{Accepting: func() error { return full },
		Admitter: admitterFunc(func(*http.Request, string) (Commit, error) { admitted = true; return nil, nil })})
	r := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 1), nil)
	if r.StatusCode != http.StatusInsufficientStorage || !strings.Contains(body(t, r), "no space left") {
		t.Fatalf("status %d, want 507 with the reason", r.StatusCode)
	}
	if admitted || h.srv.Live() != 0 {
		t.Errorf("refused POST was admitted (%v) or registered (%d live)", admitted, h.srv.Live())
	}
}

func TestStarterRefusalReachesClient(t *testing.T) {
	h := newHarness(t, Config{Starter: starterFunc(func(context.Context, Publish) (Sink, error) {
		return nil, errors.Join(errors.New("publisher not allowed"), httpx.ErrForbidden)
	})})
	r := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 1), nil)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(body(t, r), "not allowed") {
		t.Fatalf("status %d", r.StatusCode)
	}
	if h.srv.Live() != 0 {
		t.Fatal("refused session still registered")
	}
}

func TestPatch(t *testing.T) {
	h := newHarness(t, Config{})
	o := offer(t, webrtc.MimeTypeH264, 1, 1)
	created := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", o, nil)
	if created.StatusCode != 201 {
		t.Fatal(created.StatusCode)
	}
	loc, etag := h.http.URL+created.Header.Get("Location"), created.Header.Get("ETag")
	frag := "a=ice-ufrag:newufrag1\r\na=ice-pwd:newpasswordnewpassword12\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
	trickle := "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\na=end-of-candidates\r\n"
	const sdpfrag = "application/trickle-ice-sdpfrag"
	tests := []struct {
		name, url, ctype, body string
		hdr                    map[string]string
		status                 int
	}{
		{"unknown session", h.http.URL + "/whip/cam/00000000000000000000000000000000", sdpfrag, trickle, nil, 404},
		{"wrong content type", loc, "application/sdp", trickle, nil, 415},
		{"trickled candidate", loc, sdpfrag, trickle, nil, 204},
		{"garbage fragment", loc, sdpfrag, "not sdp", nil, 400},
		{"restart without If-Match", loc, sdpfrag, frag, nil, 428},
		{"restart with stale ETag", loc, sdpfrag, frag, map[string]string{"If-Match": `"stale"`}, 412},
		{"restart with ETag", loc, sdpfrag, frag, map[string]string{"If-Match": etag}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "PATCH", tc.url, tc.ctype, tc.body, tc.hdr)
			b := body(t, r)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", r.StatusCode, b, tc.status)
			}
			if tc.status == 200 {
				if ne := r.Header.Get("ETag"); ne == "" || ne == etag {
					t.Errorf("restart kept ETag %q", ne)
				}
				for _, want := range []string{"a=ice-ufrag:", "a=ice-pwd:", "a=candidate:", "m="} {
					if !strings.Contains(b, want) {
						t.Errorf("restart answer lacks %q:\n%s", want, b)
					}
				}
			}
		})
	}
}

func TestOptionsAndGet(t *testing.T) {
	h := newHarness(t, Config{Token: "x"})
	pre := do(t, "OPTIONS", h.http.URL+"/whip/cam", "", "", map[string]string{
		"Origin": "https://example.org", "Access-Control-Request-Method": "POST"})
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(pre.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("preflight without a token: %d %v", pre.StatusCode, pre.Header)
	}
	opt := do(t, "OPTIONS", h.http.URL+"/whip/cam", "", "", nil)
	if opt.Header.Get("Accept-Post") != "application/sdp" {
		t.Errorf("OPTIONS Accept-Post %q", opt.Header.Get("Accept-Post"))
	}
	get := do(t, "GET", h.http.URL+"/whip/cam", "", "", nil)
	if get.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(get.Header.Get("Allow"), "POST") {
		t.Errorf("GET: %d Allow %q", get.StatusCode, get.Header.Get("Allow"))
	}
}
