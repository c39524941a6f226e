package wish

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/httpx"
)

// serve runs fn as an httpx handler, so an error is answered as it is in
// whip and whep, and returns the response.
func serve(fn httpx.HandlerFunc, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	httpx.Handle(nil, fn).ServeHTTP(w, r)
	return w
}

// TestReadPatch: a PATCH body must be an sdpfrag within the limit; its
// If-Match comes back beside the fragment.
func TestReadPatch(t *testing.T) {
	frag := "a=ice-ufrag:u\r\na=ice-pwd:p\r\na=candidate:" + hostCandidate + "\r\n"
	tests := []struct {
		name, ctype, body string
		status            int
	}{
		{"sdpfrag", ContentTypeFragment, frag, 200},
		{"sdpfrag with parameters", ContentTypeFragment + "; charset=utf-8", frag, 200},
		{"wrong content type", ContentTypeSDP, frag, 415},
		{"over the limit", ContentTypeFragment, frag + strings.Repeat("a=x\r\n", 100), 413},
		{"not a fragment", ContentTypeFragment, "hello", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("PATCH", "/whip/cam/1", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			r.Header.Set("If-Match", `"tag"`)
			w := serve(func(w http.ResponseWriter, r *http.Request) error {
				ifMatch, f, err := ReadPatch(w, r, 200)
				if err == nil && (ifMatch != `"tag"` || f.Ufrag != "u" || len(f.Candidates) != 1) {
					t.Errorf("If-Match %q fragment %+v", ifMatch, f)
				}
				return err
			}, r)
			if w.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tc.status)
			}
		})
	}
}

// TestWritePatch: a trickle is 204 with nothing else; a restart is 200
// with the new ETag and the sdpfrag (RFC 9725 §4.3.3).
func TestWritePatch(t *testing.T) {
	w := httptest.NewRecorder()
	WritePatch(w, PatchResult{})
	if w.Code != 204 || w.Header().Get("ETag") != "" || w.Body.Len() != 0 {
		t.Errorf("trickle: %d %v %q", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	WritePatch(w, PatchResult{Restarted: true, Fragment: "a=ice-ufrag:u\r\n", ETag: `"new"`})
	if w.Code != 200 || w.Header().Get("ETag") != `"new"` || w.Header().Get("Content-Type") != ContentTypeFragment ||
		w.Body.String() != "a=ice-ufrag:u\r\n" {
		t.Errorf("restart: %d %v %q", w.Code, w.Header(), w.Body)
	}
}

// TestWriteCreated: the 201 names the session resource and its ETag, says
// what PATCH it takes, and lists each ICE server (RFC 9725 §4.2, §4.6).
func TestWriteCreated(t *testing.T) {
	w := httptest.NewRecorder()
	links := []string{`<stun:stun.example.net>; rel="ice-server"`, `<turn:turn.example.net>; rel="ice-server"`}
	WriteCreated(w, "/whip/cam/abc", `"tag"`, "v=0\r\n", links)
	hd := w.Header()
	if w.Code != 201 || hd.Get("Location") != "/whip/cam/abc" || hd.Get("ETag") != `"tag"` ||
		hd.Get("Accept-Patch") != ContentTypeFragment || hd.Get("Content-Type") != ContentTypeSDP || w.Body.String() != "v=0\r\n" {
		t.Errorf("%d %v %q", w.Code, hd, w.Body)
	}
	if got := hd.Values("Link"); len(got) != 2 || got[0] != links[0] || got[1] != links[1] {
		t.Errorf("Link %q", got)
	}
}

// TestOptionsThroughCORS: a preflight is answered by CORS alone, with the
// headers clients send allowed; a plain OPTIONS reaches WriteOptions and
// gets the lists @eyevinn/whip-web-client reads, exposed.
func TestOptionsThroughCORS(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("OPTIONS /x/{stream}", func(w http.ResponseWriter, r *http.Request) { WriteOptions(w, true) })
	mux.HandleFunc("OPTIONS /x/{stream}/{session}", func(w http.ResponseWriter, r *http.Request) { WriteOptions(w, false) })
	h := CORS(mux)
	tests := []struct {
		name, path, preflight string
		want                  map[string]string
	}{
		{"preflight", "/x/cam/1", "PATCH", map[string]string{"Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match, ETag",
			"Access-Control-Max-Age": "86400", "Allow": ""}},
		{"endpoint", "/x/cam", "", map[string]string{"Accept-Post": ContentTypeSDP, "Allow": AllowEndpoint,
			"Access-Control-Allow-Methods": "POST, PATCH, DELETE, OPTIONS"}},
		{"session", "/x/cam/1", "", map[string]string{"Accept-Patch": ContentTypeFragment, "Allow": AllowSession,
			"Access-Control-Expose-Headers": "Location, ETag, Link, Accept-Patch, Accept-Post, Allow, Access-Control-Allow-Methods, Retry-After"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("OPTIONS", tc.path, nil)
			r.Header.Set("Origin", "https://page.example")
			if tc.preflight != "" {
				r.Header.Set("Access-Control-Request-Method", tc.preflight)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("status %d headers %v", w.Code, w.Header())
			}
			for k, v := range tc.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
		})
	}
}
