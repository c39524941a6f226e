package netpool

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestSnapshotReportsEachOrchestrator(t *testing.T) {
	x, y := startNode(t, "ok"), startNode(t, "ok")
	x.setInfo(infoWithPrice("5"))
	y.setInfo(strings.Replace(goodInfo, "castnet/2", "castnet/1", 1))
	p := newPool(t, Config{URLs: urls(x, y)})
	mustTranscode(t, p, "a", 1)
	x.setMode("fail")
	if _, err := p.Transcode(context.Background(), segJob("b", 1)); !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err %v", err)
	}

	snap := p.Snapshot()
	if len(snap) != 2 {
		t.Fatalf("%d nodes", len(snap))
	}
	sx, sy := snap[0], snap[1]
	if sx.URL != x.URL || sx.Origin != "static" || !sx.Eligible || sx.WhyNot != "" || sx.Protocol != "castnet/2" ||
		sx.PricePerPixel != "5" || sx.Capacity != 4 || sx.Free != 4 || sx.ProbedAt == nil || sx.ProbeError != "" ||
		sx.SegmentsOK != 1 || sx.SegmentsFailed != 1 || sx.LatencyScore <= 0 ||
		!slices.Equal(sx.Streams, []string{"a", "b"}) || !slices.Equal(sx.SuspendedFor, []string{"b"}) {
		t.Errorf("x: %+v", sx)
	}
	if sy.Eligible || !strings.Contains(sy.WhyNot, `protocol "castnet/1"`) || sy.SegmentsOK+sy.SegmentsFailed != 0 ||
		len(sy.Streams) != 0 || sy.SuspendedFor == nil {
		t.Errorf("y: %+v", sy)
	}
}

func TestHandlerServesTheSnapshotAsJSON(t *testing.T) {
	x := startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(x)})
	mustTranscode(t, p, "a", 1)
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/api/orchestrators")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var got []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d entries", len(got))
	}
	var keys []string
	for k := range got[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"capacity", "eligible", "free", "latency_score", "origin", "price_per_pixel", "probe_error",
		"probed_at", "protocol", "segments_failed", "segments_ok", "streams", "suspended_for", "url", "why_not"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if got[0]["url"] != x.URL || got[0]["price_per_pixel"] != "0" || got[0]["segments_ok"] != 1.0 ||
		!slices.Equal(got[0]["streams"].([]any), []any{"a"}) {
		t.Errorf("entry %v", got[0])
	}

	resp, err = srv.Client().Post(srv.URL+"/api/orchestrators", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", resp.StatusCode)
	}
}
