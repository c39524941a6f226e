package transcodecost

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarizePoolsSumsAndTakesMediansOfRatios(t *testing.T) {
	samples := []Sample{
		// ratio 1.1, Go 0.1 of 2.2
		{Media: 2, CastnetFFmpegCPU: 2.1, OrchestratorCPU: 0.05, ClientCPU: 0.05, BareCPU: 2, CastnetWall: 1.2, BareWall: 1, OrchestratorRSS: 10},
		// ratio 1.0
		{Media: 2, CastnetFFmpegCPU: 2, BareCPU: 2, CastnetWall: 1, BareWall: 1, OrchestratorRSS: 30},
		// ratio 2.0 on a small segment: weighs little in the pool
		{Media: 1, CastnetFFmpegCPU: 0.2, BareCPU: 0.1, CastnetWall: 0.5, BareWall: 0.25, OrchestratorRSS: 20},
	}
	s := summarize(samples)
	if s.MediaSeconds != 5 || s.Segments != 3 || s.MaxRSS != 30 {
		t.Errorf("media %v segments %d rss %d", s.MediaSeconds, s.Segments, s.MaxRSS)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"pooled CPU ratio", s.CPURatio, 4.4 / 4.1},
		{"median CPU ratio", s.CPURatioMedian, 1.1},
		{"castnet CPU per media", s.CastnetCPUPerMedia, 4.4 / 5},
		{"bare CPU per media", s.BareCPUPerMedia, 4.1 / 5},
		{"pooled wall ratio", s.WallRatio, 2.7 / 2.25},
		{"median wall ratio", s.WallRatioMed, 1.2},
		{"Go per media", s.GoCPUPerMedia, 0.1 / 5},
		{"Go share", s.GoShare, 0.1 / 4.4},
		{"ffmpeg ratio", s.FFmpegRatio, 4.3 / 4.1},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestSummaryOfNothingIsNaNAndStillEncodes(t *testing.T) {
	s := summarize(nil)
	if !math.IsNaN(s.CPURatio) || !math.IsNaN(s.CPURatioMedian) {
		t.Fatalf("ratios of nothing: %v %v", s.CPURatio, s.CPURatioMedian)
	}
	if goal(s).Met {
		t.Error("a NaN ratio met the goal")
	}
	b, err := json.Marshal(Data{Summary: s.jsonSafe()})
	if err != nil {
		t.Fatalf("summary does not encode: %v", err)
	}
	if !strings.Contains(string(b), `"cpu_ratio":-1`) {
		t.Errorf("NaN not written as -1: %s", b)
	}
}

func TestGoalIsJudgedOnThePooledRatio(t *testing.T) {
	for _, c := range []struct {
		pooled, median float64
		met            bool
	}{{1.05, 1.2, true}, {1.0501, 1.0, false}, {0.9, 0.9, true}} {
		g := goal(Summary{CPURatio: c.pooled, CPURatioMedian: c.median})
		if g.Met != c.met {
			t.Errorf("pooled %v median %v: met %v, want %v", c.pooled, c.median, g.Met, c.met)
		}
		if !strings.Contains(g.Target, "1.05") || g.Measured == "" {
			t.Errorf("goal row %+v", g)
		}
	}
}

func TestTablesHaveARowPerSegmentAndASummary(t *testing.T) {
	samples := []Sample{{Seq: 0, Media: 2, CastnetFirst: true, CastnetFFmpegCPU: 1, BareCPU: 1, CastnetWall: 1, BareWall: 1},
		{Seq: 1, Media: 2, CastnetFFmpegCPU: 1, BareCPU: 1, CastnetWall: 1, BareWall: 1}}
	ts := tables(samples, summarize(samples))
	if len(ts) != 2 || len(ts[0].Rows) != 2 || len(ts[1].Rows) == 0 {
		t.Fatalf("tables %+v", ts)
	}
	if ts[0].Rows[0][1] != "castnet" || ts[0].Rows[1][1] != "bare" {
		t.Errorf("order column: %v %v", ts[0].Rows[0], ts[0].Rows[1])
	}
	for _, tb := range ts {
		for _, r := range tb.Rows {
			if len(r) != len(tb.Columns) {
				t.Errorf("%s: row %v has %d cells for %d columns", tb.Title, r, len(r), len(tb.Columns))
			}
		}
	}
}

func TestGapNoteBlamesTheLargerShare(t *testing.T) {
	goHeavy := Summary{CastnetCPUPerMedia: 1.2, BareCPUPerMedia: 1, GoCPUPerMedia: 0.15, CPURatio: 1.2, FFmpegRatio: 1.05}
	if n := gapNote(goHeavy); !strings.Contains(n, "Go work") {
		t.Errorf("Go-heavy gap: %s", n)
	}
	ffHeavy := Summary{CastnetCPUPerMedia: 1.2, BareCPUPerMedia: 1, GoCPUPerMedia: 0.02, CPURatio: 1.2, FFmpegRatio: 1.18}
	if n := gapNote(ffHeavy); !strings.Contains(n, "feeding ffmpeg") {
		t.Errorf("ffmpeg-heavy gap: %s", n)
	}
}

func TestProfileSecondsCoversTheSegmentsInWholeSeconds(t *testing.T) {
	s := []Sample{{CastnetWall: 0.6}, {CastnetWall: 0.7}, {CastnetWall: 5}}
	if got := profileSeconds(s, 3); got != 3*time.Second {
		t.Errorf("3 segments of 0.7 s: %v", got)
	}
	if got := profileSeconds(s[:1], 1); got != 2*time.Second {
		t.Errorf("at least 2 s: %v", got)
	}
	if got := profileSeconds(nil, 3); got != 6*time.Second {
		t.Errorf("no samples: %v", got)
	}
}

func TestShortPlanIsSmallAndSkipsWarmUp(t *testing.T) {
	short, full := planFor(true), planFor(false)
	if short.segments > 2 || short.warmup != 0 || full.segments < 10 || full.warmup < 1 {
		t.Errorf("short %+v full %+v", short, full)
	}
}
