package latency

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/benchtest"
)

// castnetBin is the castnet binary TestMain builds for the part to run.
var castnetBin string

func TestMain(m *testing.M) { benchtest.Main(m, &castnetBin) }

// TestShortRunMeasuresEveryFigure runs the smoke run against a real
// `castnet dev` and checks that every figure was measured and is
// plausible: not that it meets its goal, which a loaded machine may miss.
func TestShortRunMeasuresEveryFigure(t *testing.T) {
	benchtest.NeedFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	start := time.Now()
	res, err := New().Run(ctx, bench.Env{Exe: castnetBin, Out: t.TempDir(), Short: true, FFmpeg: "ffmpeg", Progress: &progress})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &progress)
	}
	t.Logf("short run took %s", time.Since(start).Round(time.Millisecond))
	if res.Part != "latency" || !res.Short || res.Method == "" || res.Seconds <= 0 {
		t.Fatalf("result header: %+v", res)
	}
	if len(res.Goals) != 3 {
		t.Fatalf("want 3 goals, got %+v", res.Goals)
	}
	for _, g := range res.Goals {
		if g.Target == "" || !strings.HasSuffix(strings.Fields(g.Measured)[1], "ms") {
			t.Errorf("goal without figures: %+v", g)
		}
	}
	checkTables(t, res.Tables)
	checkData(t, res.Data.(Data))
	var out bytes.Buffer
	res.Print(&out)
	if !strings.Contains(out.String(), "bare ladder") || !strings.Contains(progress.String(), "go-live 1/1") {
		t.Errorf("printed result or progress lacks the baseline or the go-live line:\n%s\n%s", &out, &progress)
	}
}

func checkTables(t *testing.T, tables []bench.Table) {
	t.Helper()
	if len(tables) != 3 {
		t.Fatalf("want go-live, turnaround and load tables, got %d", len(tables))
	}
	for _, tb := range tables {
		if len(tb.Rows) < 2 {
			t.Errorf("table %q has %d rows", tb.Title, len(tb.Rows))
		}
		for _, row := range tb.Rows {
			if len(row) != len(tb.Columns) {
				t.Errorf("table %q: row %q for columns %q", tb.Title, row, tb.Columns)
			}
		}
	}
}

func checkData(t *testing.T, d Data) {
	t.Helper()
	if len(d.GoLive) != 1 || len(d.Turnaround) != 2 || len(d.BareLadderMS) < 3 || len(d.Renditions) != 3 {
		t.Fatalf("sample counts: %d go-lives, %d turnaround phases, %d bare runs, renditions %v",
			len(d.GoLive), len(d.Turnaround), len(d.BareLadderMS), d.Renditions)
	}
	g := d.GoLive[0]
	// The first segment cannot be cut before a segment's worth of video
	// has arrived, and the client's clock starts before the node's.
	if g.NodeMS < 0.9*d.SegmentMS || g.PlayableMS+1 < g.NodeMS || len(g.RenditionMS) != 3 {
		t.Errorf("implausible go-live: %+v (segment %v ms)", g, d.SegmentMS)
	}
	for _, run := range d.Turnaround {
		for _, s := range run.PerStream {
			if len(s.TurnaroundMS) == 0 || uint64(len(s.TurnaroundMS)) != s.Published {
				t.Errorf("stream %s: %d turnarounds for %d segments published", s.Stream, len(s.TurnaroundMS), s.Published)
			}
			for _, v := range s.TurnaroundMS {
				if v <= 0 || v > 10*d.SegmentMS {
					t.Errorf("stream %s: implausible turnaround %v ms", s.Stream, v)
				}
			}
		}
	}
	if len(d.Turnaround[1].PerStream) != 2 {
		t.Errorf("loaded phase should have two streams: %+v", d.Turnaround[1])
	}
	for _, b := range d.BareLadderMS {
		if b <= 0 {
			t.Errorf("bare run of %v ms", b)
		}
	}
	if len(d.Load) != 3 {
		t.Errorf("want the load of 3 phases, got %+v", d.Load)
	}
}
