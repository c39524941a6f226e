package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("stream live: %w", ErrConflict), 409},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", ErrUnprocessable)), 422},
		{WithRetryAfter(fmt.Errorf("full: %w", ErrUnavailable), time.Second), 503},
		{fmt.Errorf("disk full: %w", ErrInsufficientStorage), 507},
		{errors.Join(errors.New("x"), ErrForbidden), 403},
		{&http.MaxBytesError{Limit: 1}, 413},
		{fmt.Errorf("reading body: %w", errors.Join(ErrBadRequest, fmt.Errorf("%w: slow", ErrRequestTimeout))), 408},
		{errors.New("disk on fire"), 500},
	}
	for _, tc := range tests {
		if got := StatusOf(tc.err); got != tc.want {
			t.Errorf("StatusOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestHandleWritesReasonAndRetryAfter(t *testing.T) {
	h := Handle(nil, func(w http.ResponseWriter, r *http.Request) error {
		return WithRetryAfter(fmt.Errorf("node is at its stream limit: %w", ErrUnavailable), 2500*time.Millisecond)
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "3" ||
		!strings.Contains(rec.Body.String(), "stream limit") {
		t.Fatalf("%d %q %q", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
}

func TestHandleHidesInternalErrors(t *testing.T) {
	h := Handle(nil, func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("open /secret/path: permission denied")
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "/secret") {
		t.Fatalf("internal error leaked: %d %q", rec.Code, rec.Body.String())
	}
}

func TestReadBodyLimit(t *testing.T) {
	rec := httptest.NewRecorder()
	_, err := ReadBody(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 11))), 10)
	if StatusOf(err) != 413 {
		t.Fatalf("over the limit: %v", err)
	}
	b, err := ReadBody(rec, httptest.NewRequest("POST", "/", strings.NewReader("0123456789")), 10)
	if err != nil || string(b) != "0123456789" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
}

func TestRequireContentType(t *testing.T) {
	for ct, ok := range map[string]bool{"application/sdp": true, "Application/SDP; charset=utf-8": true,
		"text/plain": false, "": false} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Content-Type", ct)
		if err := RequireContentType(r, "application/sdp"); (err == nil) != ok {
			t.Errorf("%q: %v", ct, err)
		}
	}
}

func TestCORSPreflightSkipsHandler(t *testing.T) {
	called := false
	h := CORS(CORSConfig{Methods: []string{"POST"}, Headers: []string{"Authorization"}, Expose: []string{"Location"}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	req := httptest.NewRequest("OPTIONS", "/", nil)
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if called || rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Headers") != "Authorization" {
		t.Fatalf("preflight: called=%v %d %v", called, rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if !called || rec.Header().Get("Access-Control-Expose-Headers") != "Location" {
		t.Fatalf("actual request: called=%v %v", called, rec.Header())
	}
}

func TestJSONServesTheCurrentValueUncached(t *testing.T) {
	n := 0
	h := JSON(slog.New(slog.DiscardHandler), func() any { n++; return map[string]int{"n": n} })
	for want := 1; want <= 2; want++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		var got map[string]int
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got["n"] != want ||
			rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-cache" {
			t.Fatalf("request %d: %v %v %v", want, got, err, rec.Header())
		}
	}
}

// TestCORSPlainOptionsCarriesAllowMethods: WHIP clients such as
// @eyevinn/whip-web-client send a plain OPTIONS and read
// Access-Control-Allow-Methods from its response to decide whether to
// trickle, so the actual OPTIONS response carries the CORS method and header
// lists too, and the handler still answers it (Allow, Accept-Post).
func TestCORSPlainOptionsCarriesAllowMethods(t *testing.T) {
	called := false
	h := CORS(CORSConfig{Methods: []string{"POST", "PATCH"}, Headers: []string{"Authorization", "ETag"},
		Expose: []string{"Allow", "Access-Control-Allow-Methods"}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
		}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("OPTIONS", "/", nil))
	hd := rec.Header()
	if !called || rec.Code != 204 || hd.Get("Allow") != "POST, OPTIONS" {
		t.Fatalf("plain OPTIONS not handled by the handler: called=%v %d %v", called, rec.Code, hd)
	}
	if hd.Get("Access-Control-Allow-Methods") != "POST, PATCH" || hd.Get("Access-Control-Allow-Headers") != "Authorization, ETag" ||
		hd.Get("Access-Control-Expose-Headers") != "Allow, Access-Control-Allow-Methods" || hd.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("plain OPTIONS CORS headers: %v", hd)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Header().Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("a POST response needs no method list: %v", rec.Header())
	}
}

// TestErrorTextSaysTheStatusOnce: packages wrap a class ("no usable codec:
// %w" around ErrUnprocessable) and the status line already names it, so the
// class's own words are left out of the reason however the error was built.
func TestErrorTextSaysTheStatusOnce(t *testing.T) {
	sentinel := fmt.Errorf("no usable codec: %w", ErrUnprocessable)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"class last", fmt.Errorf("stream is already live: %w", ErrConflict), "409 conflict: stream is already live\n"},
		{"class inside", fmt.Errorf("%w: video section offers [VP8]", sentinel),
			"422 unprocessable entity: no usable codec: video section offers [VP8]\n"},
		{"class first", fmt.Errorf("%w: no ice-ufrag", fmt.Errorf("unparsable SDP offer: %w", ErrBadRequest)),
			"400 bad request: unparsable SDP offer: no ice-ufrag\n"},
		{"joined", fmt.Errorf("ice restart: %w", errors.Join(ErrBadRequest, errors.New("pion: bad ufrag"))),
			"400 bad request: ice restart: pion: bad ufrag\n"},
		{"joined after", errors.Join(errors.New("publisher not allowed"), ErrForbidden), "403 forbidden: publisher not allowed\n"},
		{"class alone", ErrNotFound, "404 not found\n"},
		{"retry after", WithRetryAfter(fmt.Errorf("node is at its stream limit: %w", ErrUnavailable), time.Second),
			"503 service unavailable: node is at its stream limit\n"},
		{"other words kept", fmt.Errorf("segment not found: %w", ErrNotFound), "404 not found: segment not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(slog.New(slog.DiscardHandler), rec, httptest.NewRequest("GET", "/", nil), tc.err)
			if got := rec.Body.String(); got != tc.want {
				t.Errorf("body %q, want %q", got, tc.want)
			}
		})
	}
}
