package health

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func probe(t *testing.T, h http.Handler, path string) (int, Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var r Report
	if path == "/readyz" {
		if err := json.NewDecoder(rec.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s Cache-Control %q", path, cc)
	}
	return rec.Code, r
}

func TestReadyzReportsFailingChecks(t *testing.T) {
	var storeErr error
	h := Handler([]Check{{Name: "store", Fn: func() error { return storeErr }}, {Name: "other", Fn: func() error { return nil }}})
	if code, r := probe(t, h, "/readyz"); code != 200 || !r.Ready || len(r.Failing) != 0 {
		t.Errorf("all passing: %d %+v", code, r)
	}
	storeErr = errors.New("no space left on device")
	code, r := probe(t, h, "/readyz")
	if code != 503 || r.Ready || r.Failing["store"] != "no space left on device" || len(r.Failing) != 1 {
		t.Errorf("store failing: %d %+v", code, r)
	}
	if code, _ := probe(t, h, "/healthz"); code != 200 {
		t.Errorf("healthz while not ready: %d, want 200 (alive)", code)
	}
}
