package whip

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/httpx"
)

// The tests in this file hold the endpoint to what foreign WHIP clients
// (@eyevinn/whip-web-client, whip-whep, GStreamer's whipsink) read and send.

const sdpfrag = "application/trickle-ice-sdpfrag"

// headerList reports whether the comma-separated header value lists each
// of want, case-insensitively.
func headerList(value string, want ...string) []string {
	have := map[string]bool{}
	for _, v := range strings.Split(value, ",") {
		have[strings.ToLower(strings.TrimSpace(v))] = true
	}
	var missing []string
	for _, w := range want {
		if !have[strings.ToLower(w)] {
			missing = append(missing, w)
		}
	}
	return missing
}

// exposed is every response header a WHIP client on another origin reads.
var exposed = []string{"Location", "ETag", "Link", "Accept-Patch", "Accept-Post", "Allow",
	"Access-Control-Allow-Methods", "Retry-After"}

// TestPlainOptionsAsWHIPClientsReadIt: @eyevinn/whip-web-client sends a
// plain OPTIONS to the endpoint and trickles only if the response's
// Access-Control-Allow-Methods, which the page can read only if it is
// exposed, lists PATCH.
func TestPlainOptionsAsWHIPClientsReadIt(t *testing.T) {
	h := newHarness(t, Config{})
	created := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 1), nil)
	if created.StatusCode != 201 {
		t.Fatal(created.StatusCode)
	}
	origin := map[string]string{"Origin": "https://publisher.example"}
	tests := []struct{ name, path, allow, accept, acceptValue string }{
		{"endpoint", "/whip/cam", "POST", "Accept-Post", "application/sdp"},
		{"session", created.Header.Get("Location"), "PATCH", "Accept-Patch", sdpfrag},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "OPTIONS", h.http.URL+tc.path, "", "", origin)
			hd := r.Header
			if r.StatusCode != http.StatusNoContent || hd.Get(tc.accept) != tc.acceptValue {
				t.Errorf("status %d %s %q", r.StatusCode, tc.accept, hd.Get(tc.accept))
			}
			if m := headerList(hd.Get("Allow"), tc.allow, "OPTIONS"); m != nil {
				t.Errorf("Allow %q lacks %v", hd.Get("Allow"), m)
			}
			if m := headerList(hd.Get("Access-Control-Allow-Methods"), "POST", "PATCH", "DELETE", "OPTIONS"); m != nil {
				t.Errorf("Access-Control-Allow-Methods %q lacks %v", hd.Get("Access-Control-Allow-Methods"), m)
			}
			if m := headerList(hd.Get("Access-Control-Expose-Headers"), exposed...); m != nil {
				t.Errorf("Access-Control-Expose-Headers %q lacks %v", hd.Get("Access-Control-Expose-Headers"), m)
			}
			if hd.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("Access-Control-Allow-Origin %q", hd.Get("Access-Control-Allow-Origin"))
			}
		})
	}
}

// TestPreflightAllowsTheHeadersClientsSend: @eyevinn/whip-web-client puts
// an ETag request header on its PATCH, and other clients send If-Match; a
// browser blocks the PATCH unless the preflight allows both.
func TestPreflightAllowsTheHeadersClientsSend(t *testing.T) {
	h := newHarness(t, Config{})
	r := do(t, "OPTIONS", h.http.URL+"/whip/cam/0123", "", "", map[string]string{
		"Origin": "https://publisher.example", "Access-Control-Request-Method": "PATCH",
		"Access-Control-Request-Headers": "content-type,etag,if-match,authorization"})
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight status %d", r.StatusCode)
	}
	if m := headerList(r.Header.Get("Access-Control-Allow-Headers"), "Content-Type", "ETag", "If-Match", "Authorization"); m != nil {
		t.Errorf("Access-Control-Allow-Headers %q lacks %v", r.Header.Get("Access-Control-Allow-Headers"), m)
	}
	if m := headerList(r.Header.Get("Access-Control-Allow-Methods"), "PATCH"); m != nil {
		t.Errorf("Access-Control-Allow-Methods %q", r.Header.Get("Access-Control-Allow-Methods"))
	}
}

var iceLine = regexp.MustCompile(`a=ice-(ufrag|pwd):(\S+)`)

// iceCredentials reads an SDP's first ice-ufrag and ice-pwd.
func iceCredentials(sdp string) (ufrag, pwd string) {
	for _, m := range iceLine.FindAllStringSubmatch(sdp, -1) {
		if m[1] == "ufrag" && ufrag == "" {
			ufrag = m[2]
		}
		if m[1] == "pwd" && pwd == "" {
			pwd = m[2]
		}
	}
	return ufrag, pwd
}

// fragment builds a trickle-ice-sdpfrag body as clients send it.
func fragment(ufrag, pwd string, candidates ...string) string {
	s := "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	for _, c := range candidates {
		s += "a=candidate:" + c + "\r\n"
	}
	return s
}

const hostCandidate = "1 1 udp 2130706431 127.0.0.1 40000 typ host"

// TestPatchRestartsICEOnlyWhenAsked: RFC 9725 §4.3.3 makes a PATCH an ICE
// restart by If-Match: * and new credentials (castnet also takes the
// current ETag with new credentials). A trickle whose ufrag is not the
// session's, like whip-whep's "a=ice-ufrag:null", is refused with 422 and
// leaves the session and its ICE as they were.
func TestPatchRestartsICEOnlyWhenAsked(t *testing.T) {
	const newUfrag, newPwd = "newufrag1", "newpasswordnewpassword12"
	tests := []struct {
		name    string
		frag    func(ufrag, pwd string) string
		ifMatch func(etag string) map[string]string
		status  int
	}{
		{"trickle with the current ETag", func(u, p string) string { return fragment(u, p, hostCandidate) },
			func(e string) map[string]string { return map[string]string{"If-Match": e} }, 204},
		{"trickle with an ETag request header (eyevinn)", func(u, p string) string { return fragment(u, p, hostCandidate) },
			func(e string) map[string]string { return map[string]string{"ETag": e} }, 204},
		{"trickle with If-Match *", func(u, p string) string { return fragment(u, p, hostCandidate) },
			func(string) map[string]string { return map[string]string{"If-Match": "*"} }, 204},
		{"trickle without credentials", func(string, string) string {
			return "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:" + hostCandidate + "\r\n"
		},
			func(string) map[string]string { return nil }, 204},
		{"ufrag null with the current ETag (whip-whep)", func(string, string) string { return fragment("null", "null", hostCandidate) },
			func(e string) map[string]string { return map[string]string{"If-Match": e} }, 422},
		{"ufrag null with If-Match *", func(string, string) string { return fragment("null", "null", hostCandidate) },
			func(string) map[string]string { return map[string]string{"If-Match": "*"} }, 422},
		{"new ufrag with the old pwd", func(_, p string) string { return fragment(newUfrag, p, hostCandidate) },
			func(e string) map[string]string { return map[string]string{"If-Match": e} }, 422},
		{"restart without If-Match", func(string, string) string { return fragment(newUfrag, newPwd) },
			func(string) map[string]string { return nil }, 428},
		{"restart with a stale ETag", func(string, string) string { return fragment(newUfrag, newPwd) },
			func(string) map[string]string { return map[string]string{"If-Match": `"stale"`} }, 412},
		{"restart with If-Match *", func(string, string) string { return fragment(newUfrag, newPwd) },
			func(string) map[string]string { return map[string]string{"If-Match": "*"} }, 200},
		{"restart with the current ETag", func(string, string) string { return fragment(newUfrag, newPwd) },
			func(e string) map[string]string { return map[string]string{"If-Match": e} }, 200},
	}
	h := newHarness(t, Config{})
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := offer(t, webrtc.MimeTypeH264, 1, 1)
			stream := "cam" + string(rune('a'+i))
			created := do(t, "POST", h.http.URL+"/whip/"+stream, "application/sdp", o, nil)
			if created.StatusCode != 201 {
				t.Fatal(created.StatusCode)
			}
			sink := <-h.sinks
			loc, etag := h.http.URL+created.Header.Get("Location"), created.Header.Get("ETag")
			r := do(t, "PATCH", loc, sdpfrag, tc.frag(iceCredentials(o)), tc.ifMatch(etag))
			b := body(t, r)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", r.StatusCode, b, tc.status)
			}
			if tc.status == 200 {
				checkRestartAnswer(t, r, b, etag)
				return
			}
			// Nothing but a restart changes the ICE session: the ETag the
			// POST gave still matches, and the session lives on.
			again := do(t, "PATCH", loc, sdpfrag, fragment(iceCredentials(o)), map[string]string{"If-Match": etag})
			if again.StatusCode != 204 {
				t.Errorf("trickle with the POST's ETag after this PATCH: %d (%s), want 204", again.StatusCode, body(t, again))
			}
			select {
			case err := <-sink.closed:
				t.Fatalf("session ended: %v", err)
			default:
			}
		})
	}
}

// checkRestartAnswer: a restart answer has a new ETag and the new ICE
// session's credentials and candidates, and under rtcp-mux no component-2
// (RTCP) candidates: clients join the candidates into their remote
// description as they come.
func checkRestartAnswer(t *testing.T, r *http.Response, b, oldETag string) {
	t.Helper()
	if ne := r.Header.Get("ETag"); ne == "" || ne == oldETag {
		t.Errorf("restart kept ETag %q", ne)
	}
	for _, want := range []string{"a=ice-ufrag:", "a=ice-pwd:", "a=candidate:", "m="} {
		if !strings.Contains(b, want) {
			t.Errorf("restart answer lacks %q:\n%s", want, b)
		}
	}
	checkNoRTCPCandidates(t, "restart answer", b)
}

func checkNoRTCPCandidates(t *testing.T, what, sdp string) {
	t.Helper()
	for _, l := range strings.Split(sdp, "\n") {
		if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "a=candidate:")); strings.HasPrefix(l, "a=candidate:") &&
			len(f) > 1 && f[1] != "1" {
			t.Errorf("%s has a component-%s candidate under rtcp-mux: %s", what, f[1], l)
		}
	}
}

// TestAnswerHasNoRTCPCandidates: the POST's answer (a=rtcp-mux) lists
// component-1 candidates only.
func TestAnswerHasNoRTCPCandidates(t *testing.T) {
	h := newHarness(t, Config{})
	r := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeH264, 1, 1), nil)
	answer := body(t, r)
	if r.StatusCode != 201 || !strings.Contains(answer, "a=rtcp-mux") || !strings.Contains(answer, "a=candidate:") {
		t.Fatalf("status %d answer:\n%s", r.StatusCode, answer)
	}
	checkNoRTCPCandidates(t, "answer", answer)
}

// classes are httpx's error classes, whose words the status line says.
var classes = []error{httpx.ErrBadRequest, httpx.ErrUnauthorized, httpx.ErrForbidden, httpx.ErrNotFound,
	httpx.ErrMethodNotAllowed, httpx.ErrConflict, httpx.ErrPreconditionFailed, httpx.ErrPreconditionRequired,
	httpx.ErrUnprocessable, httpx.ErrUnavailable, httpx.ErrGatewayTimeout, httpx.ErrUnsupportedMedia, httpx.ErrTooLarge}

// TestErrorTextsSayTheStatusOnce: every refusal of the endpoint reads
// "STATUS text: reason" with the status's words once, for example the
// VP8-only offer's 422.
func TestErrorTextsSayTheStatusOnce(t *testing.T) {
	h := newHarness(t, Config{})
	r := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", offer(t, webrtc.MimeTypeVP8, 1, 1), nil)
	const vp8 = "422 unprocessable entity: no usable codec: video section offers [VP8], castnet accepts H264 with packetization-mode=1\n"
	if got := body(t, r); got != vp8 {
		t.Errorf("VP8-only offer: %q, want %q", got, vp8)
	}
	for _, err := range []error{ErrUnauthorized, ErrBadStreamName, ErrStreamLive, ErrFull, ErrNoSession,
		ErrNoIfMatch, ErrETagMismatch, ErrNotPOST, ErrBadSDP, ErrNoMedia, ErrManyTracks, ErrNoCodec,
		ErrNotSending, ErrBadFragment, ErrNotThisICESession, ErrGatherTimeout} {
		rec := httptest.NewRecorder()
		httpx.WriteError(slog.New(slog.DiscardHandler), rec, httptest.NewRequest("POST", "/whip/cam", nil), err)
		_, reason, _ := strings.Cut(rec.Body.String(), ": ")
		for _, class := range classes {
			if errors.Is(err, class) && strings.Contains(reason, class.Error()) {
				t.Errorf("%q repeats %q from its status line", rec.Body.String(), class.Error())
			}
		}
	}
}

// TestTrickleDiscardsCandidatesItCannotUse: RFC 9725 §4.3.2 has a session
// silently discard a candidate whose address it cannot resolve and take
// the rest with 204. @eyevinn/whip-web-client writes Chrome's IPv6 address
// in brackets, and stops trickling at the first PATCH that is not 2xx.
func TestTrickleDiscardsCandidatesItCannotUse(t *testing.T) {
	h, pubs := statusHarness(t, Config{})
	o := offer(t, webrtc.MimeTypeH264, 1, 1)
	created := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", o, nil)
	if created.StatusCode != 201 {
		t.Fatal(created.StatusCode)
	}
	pub := <-pubs
	ufrag, pwd := iceCredentials(o)
	r := do(t, "PATCH", h.http.URL+created.Header.Get("Location"), sdpfrag, fragment(ufrag, pwd,
		"2 1 udp 2122260223 [fd00::2] 61764 typ host generation 0", // eyevinn's IPv6
		"3 0 udp 2122194687 127.0.0.2 61765 typ host",              // eyevinn's component 0
		"4 1 udp 2122194687 no.such.host.invalid 61766 typ bogus",  // no candidate type anyone knows
		"5 1 udp", // cut short
		hostCandidate), map[string]string{"If-Match": created.Header.Get("ETag")})
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d (%s), want 204", r.StatusCode, body(t, r))
	}
	if st := pub.Stats(); st.CandidatesTrickled+st.CandidatesDiscarded != 5 || st.CandidatesTrickled < 2 || st.CandidatesDiscarded < 1 {
		t.Errorf("trickled %d discarded %d: want the IPv6 and the plain candidate taken, the cut one discarded, 5 in all",
			st.CandidatesTrickled, st.CandidatesDiscarded)
	}
}
