package wish

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/httpx"
)

// TestPatchIntent holds PatchIntent to RFC 9725 §4.3 case by case; the
// HTTP status each refusal gets is its error's class.
func TestPatchIntent(t *testing.T) {
	cur := ICECreds{"abcd", "abcdefghijklmnopqrstuvwx"}
	fresh := ICECreds{"efgh", "ABCDEFGHIJKLMNOPQRSTUVWX"}
	const etag = `"current"`
	tests := []struct {
		name    string
		ifMatch string
		frag    Fragment
		restart bool
		status  int // 0: no error
	}{
		{"trickle without credentials or If-Match", "", Fragment{Candidates: []string{hostCandidate}}, false, 0},
		{"trickle with the session's credentials", "", Fragment{Ufrag: cur.Ufrag, Pwd: cur.Pwd}, false, 0},
		{"trickle with the current ETag", etag, Fragment{Ufrag: cur.Ufrag, Pwd: cur.Pwd}, false, 0},
		{"trickle with If-Match *", "*", Fragment{}, false, 0},
		{"any PATCH with a stale ETag", `"old"`, Fragment{}, false, 412},
		{"restart with If-Match *", "*", Fragment{Ufrag: fresh.Ufrag, Pwd: fresh.Pwd}, true, 0},
		{"restart with the current ETag", etag, Fragment{Ufrag: fresh.Ufrag, Pwd: fresh.Pwd}, true, 0},
		{"restart without If-Match", "", Fragment{Ufrag: fresh.Ufrag, Pwd: fresh.Pwd}, false, 428},
		{"restart with a stale ETag", `"old"`, Fragment{Ufrag: fresh.Ufrag, Pwd: fresh.Pwd}, false, 412},
		{"new ufrag, old pwd", "*", Fragment{Ufrag: fresh.Ufrag, Pwd: cur.Pwd}, false, 422},
		{"old ufrag, new pwd", "*", Fragment{Ufrag: cur.Ufrag, Pwd: fresh.Pwd}, false, 422},
		{"ufrag null (whip-whep)", "*", Fragment{Ufrag: "null", Pwd: "null"}, false, 422},
		{"ufrag too short", "*", Fragment{Ufrag: "abc", Pwd: fresh.Pwd}, false, 422},
		{"pwd too short", "*", Fragment{Ufrag: fresh.Ufrag, Pwd: "short"}, false, 422},
		{"ufrag outside ice-chars", "*", Fragment{Ufrag: "ef-gh", Pwd: fresh.Pwd}, false, 422},
		{"ufrag over 256 characters", "*", Fragment{Ufrag: strings.Repeat("e", 257), Pwd: fresh.Pwd}, false, 422},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			restart, err := PatchIntent(tc.ifMatch, tc.frag, cur, etag)
			status := 0
			if err != nil {
				status = httpx.StatusOf(err)
			}
			if restart != tc.restart || status != tc.status {
				t.Fatalf("restart %v err %v (%d), want restart %v status %d", restart, err, status, tc.restart, tc.status)
			}
		})
	}
}

// TestOfferCreds: session-level credentials win, else the first section's;
// an offer without both is a bad request.
func TestOfferCreds(t *testing.T) {
	const head = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	const video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
	tests := []struct {
		name, offer string
		want        ICECreds
		err         error
	}{
		{"session level", head + "a=ice-ufrag:sess\r\na=ice-pwd:sesspwd\r\n" + video + "a=ice-ufrag:media\r\na=ice-pwd:mediapwd\r\n",
			ICECreds{"sess", "sesspwd"}, nil},
		{"media level", head + video + "a=ice-ufrag:media\r\na=ice-pwd:mediapwd\r\n" + video + "a=ice-ufrag:second\r\n",
			ICECreds{"media", "mediapwd"}, nil},
		{"split across levels", head + "a=ice-ufrag:sess\r\n" + video + "a=ice-pwd:mediapwd\r\n", ICECreds{"sess", "mediapwd"}, nil},
		{"no pwd", head + video + "a=ice-ufrag:media\r\n", ICECreds{}, ErrBadSDP},
		{"not SDP", "hello", ICECreds{}, ErrBadSDP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OfferCreds(tc.offer)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("%+v %v, want %+v %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestCheckBearer: the scheme name is case-insensitive (RFC 6750 §2.1
// via RFC 9110 §11.1), the token is not; no token configured admits all.
func TestCheckBearer(t *testing.T) {
	tests := []struct {
		name, token, header string
		ok                  bool
	}{
		{"no token configured", "", "", true},
		{"right token", "sekret", "Bearer sekret", true},
		{"scheme in lower case", "sekret", "bearer sekret", true},
		{"no header", "sekret", "", false},
		{"wrong token", "sekret", "Bearer nope", false},
		{"token in another case", "sekret", "Bearer SEKRET", false},
		{"other scheme", "sekret", "Basic sekret", false},
		{"scheme only", "sekret", "Bearer", false},
		{"token with a suffix", "sekret", "Bearer sekret2", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/whip/cam", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			err := CheckBearer(r, tc.token)
			if (err == nil) != tc.ok || err != nil && httpx.StatusOf(err) != 401 {
				t.Fatalf("err %v, want ok %v (401 otherwise)", err, tc.ok)
			}
		})
	}
}

// TestRandomIDAndETag: 128 bits in hex, and a quoted strong ETag, fresh
// each time.
func TestRandomIDAndETag(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, et := RandomID(), NewETag()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" || seen[id] {
			t.Fatalf("RandomID %q", id)
		}
		if et[0] != '"' || et[len(et)-1] != '"' || strings.HasPrefix(et, "W/") || seen[et] {
			t.Fatalf("NewETag %q", et)
		}
		seen[id], seen[et] = true, true
	}
}

// TestParseFragment: ICE lines are read, others skipped, half a credential
// pair and a line that is not SDP are bad requests.
func TestParseFragment(t *testing.T) {
	f, err := ParseFragment([]byte("a=ice-ufrag:u\r\na=ice-pwd:p\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\na=mid:0\r\n" +
		"a=candidate:" + hostCandidate + "\r\na=end-of-candidates\r\n\r\n"))
	if err != nil || f.Ufrag != "u" || f.Pwd != "p" || len(f.Candidates) != 1 || f.Candidates[0] != hostCandidate || !f.EndOfCandidates {
		t.Fatalf("%+v %v", f, err)
	}
	for _, bad := range []string{"a=ice-ufrag:u\r\n", "a=ice-pwd:p\r\n", "not sdp", "x"} {
		if _, err := ParseFragment([]byte(bad)); !errors.Is(err, ErrBadFragment) || httpx.StatusOf(err) != 400 {
			t.Errorf("%q: %v, want ErrBadFragment (400)", bad, err)
		}
	}
}

// TestCandidateLines: what the Peer does to candidate lines on their way
// in (unbracketing) and out (no component 2; a restart's fragment: the
// ICE lines before the second section, session-level ones included).
func TestCandidateLines(t *testing.T) {
	if got := unbracketAddress("2 1 udp 2122260223 [fd00::2] 61764 typ host"); got != "2 1 udp 2122260223 fd00::2 61764 typ host" {
		t.Errorf("unbracketAddress: %q", got)
	}
	if got := unbracketAddress("5 1 udp"); got != "5 1 udp" {
		t.Errorf("unbracketAddress of a short line: %q", got)
	}
	answer := "v=0\r\na=ice-ufrag:sess\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n" +
		"a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=candidate:1 2 udp 1 127.0.0.1 5000 typ host\r\n" +
		"a=end-of-candidates\r\na=rtpmap:96 VP8/90000\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n"
	if got := dropRTCPCandidates(answer); strings.Contains(got, " 2 udp") || !strings.Contains(got, " 1 udp") {
		t.Errorf("dropRTCPCandidates:\n%s", got)
	}
	want := "a=ice-ufrag:sess\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n" +
		"a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n"
	if got := answerFragment(answer); got != want {
		t.Errorf("answerFragment:\n%q\nwant\n%q", got, want)
	}
	if got, err := replaceICECredentials(answer, "U", "P"); err != nil || strings.Count(got, "a=ice-ufrag:U\r\n") != 2 || !strings.Contains(got, "a=ice-pwd:P\r\n") {
		t.Errorf("replaceICECredentials: %v\n%s", err, got)
	}
	if _, err := replaceICECredentials("v=0\r\n", "U", "P"); err == nil {
		t.Error("replaceICECredentials of an offer without credentials succeeded")
	}
}
