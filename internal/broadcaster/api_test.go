package broadcaster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
)

// The WHIP session id is the secret part of the session URL: whoever
// knows it may DELETE or PATCH an anonymous session (issue 11, attack 2).
const (
	secretSession = "cap-7f3e9d1c2b"
	publisherIP   = "198.51.100.7"
)

// secretPublish is a live session whose capability and address must not
// leak through the public API.
func secretPublish(name string) whip.Publish {
	return whip.Publish{Stream: name, Session: secretSession, RemoteAddr: publisherIP + ":40000",
		Video: media.CodecH264, RequestKeyframe: func() {},
		Stats: func() whip.SessionStats {
			return whip.SessionStats{State: "connected", RemoteCandAddr: publisherIP + ":50000"}
		}}
}

// getAPI GETs path from the broadcaster's API with the given headers.
func getAPI(t *testing.T, b *Broadcaster, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(body)
}

// TestPublicAPICarriesNoSessionCapabilityOrPublisherAddress: any page may
// read /api/streams (Access-Control-Allow-Origin: *), so what it lists must
// not end a session or locate its publisher.
func TestPublicAPICarriesNoSessionCapabilityOrPublisherAddress(t *testing.T) {
	h := newPipelineConfig(t, nil, func(c *Config) { c.SourceOnly = true })
	sink, err := h.b.StartStream(context.Background(), secretPublish("victim"))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(nil)
	for _, path := range []string{"/api/streams", "/api/streams/victim", "/api/streams/victim?turnarounds=1"} {
		resp, body := getAPI(t, h.b, path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"victim"`) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		for _, secret := range []string{secretSession, publisherIP} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows %q to anyone:\n%s", path, secret, body)
			}
		}
	}
}

// TestManyShortSessionsLeaveTheRegistryBounded: 1,500 sessions under
// fresh names (as a flood of POST+DELETE makes) must neither grow the heap
// nor the listing without bound.
func TestManyShortSessionsLeaveTheRegistryBounded(t *testing.T) {
	h := newPipelineConfig(t, nil, func(c *Config) { c.SourceOnly = true })
	const warm, total = 300, 1500
	shortSessions(t, h.b, 0, warm)
	before := heapAfterGC()
	shortSessions(t, h.b, warm, total)
	after := heapAfterGC()
	rows := listAll(t, h.b)
	t.Logf("registry: %d rows after %d sessions; heap %.2f MiB after %d, %.2f MiB after %d",
		rows, total, mib(before), warm, mib(after), total)
	if rows > 300 {
		t.Errorf("/api/streams lists %d rows after %d short sessions, want at most a few hundred", rows, total)
	}
	// An ended stream's record is a few KiB: 1,200 kept would be several
	// MiB. The bound is generous for the runtime's own noise.
	if grown := int64(after) - int64(before); grown > 1<<20 {
		t.Errorf("heap grew %.2f MiB over %d more short sessions, want it flat", mib(uint64(grown)), total-warm)
	}
}

// shortSessions starts and ends sessions named s{from}..s{to-1}, as a
// publisher's POST and DELETE would, 50 at a time as -max-streams allows:
// the runtime keeps what its peak of goroutines took, which is not what
// this measures.
func shortSessions(t *testing.T, b *Broadcaster, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		name := fmt.Sprintf("s%d", i)
		sink, err := b.StartStream(context.Background(), whip.Publish{Stream: name, Session: "id" + name,
			Video: media.CodecH264, RequestKeyframe: func() {}})
		if err != nil {
			t.Fatal(err)
		}
		sink.Close(nil)
		if (i+1)%50 == 0 || i == to-1 {
			waitAllEnded(t, b)
		}
	}
}

// waitAllEnded waits until the API lists no stream that has not ended.
func waitAllEnded(t *testing.T, b *Broadcaster) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, body := getAPI(t, b, "/api/streams")
		if !strings.Contains(body, `"state": "starting"`) && !strings.Contains(body, `"state": "live"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("streams never ended")
		}
	}
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// listAll reads every page of GET /api/streams, following Link rel=next,
// and returns how many rows it listed.
func listAll(t *testing.T, b *Broadcaster) int {
	t.Helper()
	rows := 0
	for path := "/api/streams"; path != ""; {
		resp, body := getAPI(t, b, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		rows += strings.Count(body, `"started_at"`)
		path = nextLink(resp.Header.Get("Link"))
	}
	return rows
}

// nextLink is the target of a Link header's rel="next" (RFC 8288), or "".
func nextLink(h string) string {
	for _, l := range strings.Split(h, ",") {
		target, params, _ := strings.Cut(strings.TrimSpace(l), ";")
		if strings.Contains(params, `rel="next"`) {
			return strings.Trim(strings.TrimSpace(target), "<>")
		}
	}
	return ""
}

// TestAdminTokenShowsTheOperatorSessionAndAddress: the operator's view
// needs the admin token, and is never offered to other origins.
func TestAdminTokenShowsTheOperatorSessionAndAddress(t *testing.T) {
	h := newPipelineConfig(t, nil, func(c *Config) { c.SourceOnly, c.AdminToken = true, "op-secret" })
	sink, err := h.b.StartStream(context.Background(), secretPublish("victim"))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(nil)
	for _, path := range []string{"/api/streams", "/api/streams/victim"} {
		resp, body := getAPI(t, h.b, path, "Authorization", "Bearer op-secret")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, secretSession) ||
			strings.Count(body, publisherIP) != 2 {
			t.Errorf("GET %s as the operator: %d, want the session and both addresses:\n%s", path, resp.StatusCode, body)
		}
		if o := resp.Header.Get("Access-Control-Allow-Origin"); o != "" || resp.Header.Get("Vary") != "Authorization" {
			t.Errorf("GET %s as the operator: Access-Control-Allow-Origin %q Vary %q, want none and Authorization",
				path, o, resp.Header.Get("Vary"))
		}
		if resp, body := getAPI(t, h.b, path, "Authorization", "Bearer guess"); resp.StatusCode != http.StatusUnauthorized ||
			strings.Contains(body, secretSession) {
			t.Errorf("GET %s with a wrong token: %d %s, want 401", path, resp.StatusCode, body)
		}
		if resp, body := getAPI(t, h.b, path, "Authorization", "Basic cHJveHk6cHc="); resp.StatusCode != http.StatusOK ||
			strings.Contains(body, secretSession) || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s behind a proxy's Basic auth: %d, want the public view:\n%s", path, resp.StatusCode, body)
		}
	}
}

// TestNoAdminTokenMeansNoOperatorView: without -admin-token nothing, not
// even an empty bearer token, unlocks the operator's view.
func TestNoAdminTokenMeansNoOperatorView(t *testing.T) {
	h := newPipelineConfig(t, nil, func(c *Config) { c.SourceOnly = true })
	sink, err := h.b.StartStream(context.Background(), secretPublish("victim"))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close(nil)
	for _, auth := range []string{"Bearer ", "Bearer x", "bearer"} {
		if resp, body := getAPI(t, h.b, "/api/streams", "Authorization", auth); resp.StatusCode != http.StatusUnauthorized ||
			strings.Contains(body, secretSession) {
			t.Errorf("Authorization %q: %d %s, want 401", auth, resp.StatusCode, body)
		}
	}
}
