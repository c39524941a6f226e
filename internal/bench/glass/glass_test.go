package glass

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/benchtest"
)

// TestShortRunMeasuresEveryPath runs the smoke run against a real
// `castnet dev` and checks that every path was measured and its figures
// are plausible: not that they meet their goals, which a loaded machine
// may miss.
func TestShortRunMeasuresEveryPath(t *testing.T) {
	benchtest.NeedFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	start := time.Now()
	res, err := New().Run(ctx, bench.Env{Exe: exe, Out: t.TempDir(), Short: true, FFmpeg: "ffmpeg", Progress: &progress})
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &progress)
	}
	t.Logf("short run took %s", time.Since(start).Round(time.Millisecond))
	var out bytes.Buffer
	res.Print(&out)
	t.Logf("\n%s", &out)
	if res.Part != "glass" || !res.Short || res.Method == "" || len(res.Goals) < 5 {
		t.Fatalf("result header: %+v", res)
	}
	for _, g := range res.Goals {
		if g.Measured == "" || strings.Contains(g.Measured, "NaN") {
			t.Errorf("goal without a figure: %+v", g)
		}
	}
	d := res.Data.(Data)
	for _, name := range []string{pathFloor, pathWHEP, pathHLS} {
		checkPath(t, d.path(name), 60_000)
	}
	checkPath(t, d.llPath(), 60_000)
	if floor, whep := bench.Median(d.path(pathFloor).MS), bench.Median(d.path(pathWHEP).MS); whep < floor/2 {
		t.Errorf("WHEP p50 %.1f ms far below the floor's %.1f ms", whep, floor)
	}
	checkJoins(t, d.Joins)
	checkLevels(t, d.Levels)
}

func checkPath(t *testing.T, p Path, maxMS float64) {
	t.Helper()
	if len(p.MS) == 0 {
		t.Errorf("%s: no samples (%s)", p.Name, p.Note)
	}
	for _, v := range p.MS {
		if v <= 0 || v > maxMS {
			t.Errorf("%s: implausible %v ms", p.Name, v)
			return
		}
	}
}

func checkJoins(t *testing.T, joins []JoinRun) {
	t.Helper()
	if len(joins) != 2 {
		t.Fatalf("want joins in 2 modes, got %+v", joins)
	}
	for _, j := range joins {
		if len(j.JoinMS) != 2 || j.Failed != 0 {
			t.Errorf("%s: %+v", j.Mode, j)
		}
	}
}

func checkLevels(t *testing.T, levels []Level) {
	t.Helper()
	if len(levels) != 2 || levels[0].Viewers != 1 || levels[1].Viewers != 10 {
		t.Fatalf("levels %+v", levels)
	}
	for _, l := range levels {
		if l.Connected != l.Viewers || l.Counts.Packets == 0 || len(l.LatencyMS) == 0 {
			t.Errorf("level %d: %+v", l.Viewers, l)
		}
	}
}
