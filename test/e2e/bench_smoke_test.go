package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBenchSuiteShortRunsEveryPart is the smoke run of `castnet bench
// -short` that keeps the suite working: every part starts its nodes,
// measures something, and lands in bench.json with goals and rows. The
// figures themselves are not judged here.
func TestBenchSuiteShortRunsEveryPart(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "bench", "-short", "-out", out)
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("castnet bench -short: %v\n%s", err, logs)
	}
	b, err := os.ReadFile(filepath.Join(out, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Part   string
			Short  bool
			Goals  []struct{ Name, Measured string }
			Tables []struct{ Rows [][]string }
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("bench.json: %v", err)
	}
	want := []string{"ingest", "transcode", "latency", "glass", "soak"}
	if len(doc.Results) != len(want) {
		t.Fatalf("bench.json has %d parts, want %v\n%s", len(doc.Results), want, logs)
	}
	for i, r := range doc.Results {
		rows := 0
		for _, tb := range r.Tables {
			rows += len(tb.Rows)
		}
		if r.Part != want[i] || !r.Short || len(r.Goals) == 0 || rows == 0 {
			t.Errorf("part %d: %s short=%v, %d goals, %d rows", i, r.Part, r.Short, len(r.Goals), rows)
		}
		for _, g := range r.Goals {
			if g.Measured == "" {
				t.Errorf("%s: goal %q has no measurement", r.Part, g.Name)
			}
		}
	}
}
