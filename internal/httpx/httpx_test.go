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
		{errors.Join(errors.New("x"), ErrForbidden), 403},
		{&http.MaxBytesError{Limit: 1}, 413},
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
