package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestFaultyOrchestratorIsRoutedAround: the first orchestrator a
// broadcaster tries commits a fault — it answers with garbage renditions,
// or never answers at all. The broadcaster fails over to the healthy one
// within the segment's deadline, every segment is published with its
// whole ladder, and the faulty node is suspended for the stream.
func TestFaultyOrchestratorIsRoutedAround(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	for _, fault := range []string{"corrupt", "hang"} {
		t.Run(fault, func(t *testing.T) {
			bad, _, _ := startOrchestrator(t, "-fault", fault)
			// Enough slots that the segments moved off the bad node at
			// once are not refused for capacity.
			good, _, _ := startOrchestrator(t, "-capacity", "4")
			b := startRole(t, "broadcaster", "-orchestrators", bad+","+good)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := publish(ctx, "-test-pattern", "-width", "640", "-height", "360", "-bitrate", "800000",
				"-duration", "10s", b.URL+"/whip/"+fault)
			if err != nil {
				t.Fatalf("publish: %v\n%s", err, out)
			}
			st := b.waitState(fault, "ended", time.Minute)
			if st.Published != st.Segments || st.Published < 4 || st.SourceOnly != 0 || st.Failures != 0 {
				t.Fatalf("published %d of %d, %d source only, %d failures (%s)",
					st.Published, st.Segments, st.SourceOnly, st.Failures, st.LastError)
			}
			// The attempt deadline is the segment + 1 s after its end; the failover
			// must land inside the broadcaster's budget for the segment.
			if st.Turnaround == nil || st.Turnaround.Max > 7_000 {
				t.Errorf("a segment took too long to fail over: %+v", st.Turnaround)
			}
			nodes := orchestrators(t, b.URL)
			if nodes[bad].Failed < 1 || nodes[good].OK < st.Published {
				t.Errorf("the faulty node was not what failed: %+v", nodes)
			}
			dir := filepath.Join(b.Data, "hls", fault)
			for _, r := range defaultRungs {
				text, err := os.ReadFile(filepath.Join(dir, r, "index.m3u8"))
				if err != nil {
					t.Fatal(err)
				}
				pl := parseMedia(t, string(text))
				for i, seg := range pl.Segments {
					if want := strconv.Itoa(i) + ".ts"; seg != want {
						t.Fatalf("%s: entry %d is %s, want %s", r, i, seg, want)
					}
					decodes(t, filepath.Join(dir, r, seg))
				}
			}
		})
	}
}

// nodeState is the part of /api/orchestrators the tests read.
type nodeState struct {
	URL          string   `json:"url"`
	OK           int      `json:"segments_ok"`
	Failed       int      `json:"segments_failed"`
	SuspendedFor []string `json:"suspended_for"`
}

// orchestrators reads a broadcaster's view of its orchestrators, by URL.
func orchestrators(t *testing.T, base string) map[string]nodeState {
	t.Helper()
	resp, err := http.Get(base + "/api/orchestrators")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []nodeState
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("/api/orchestrators: %v", err)
	}
	out := map[string]nodeState{}
	for _, n := range list {
		out[n.URL] = n
	}
	return out
}
