package transcodecost

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/benchtest"
)

// castnetExe is the castnet binary TestMain builds for the tests that run
// the part against real nodes.
var castnetExe string

func TestMain(m *testing.M) { benchtest.Main(m, &castnetExe) }

func TestShortRunMeasuresBothPaths(t *testing.T) {
	benchtest.NeedFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var progress bytes.Buffer
	start := time.Now()
	r, err := New().Run(ctx, bench.Env{Exe: castnetExe, Out: t.TempDir(), Short: true, FFmpeg: "ffmpeg", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("a short run took %v, want ≤ 30 s", took)
	}
	if r.Part != "transcode" || !r.Short || r.Method == "" || r.Seconds <= 0 {
		t.Errorf("result header %q short=%v seconds=%v", r.Part, r.Short, r.Seconds)
	}
	if len(r.Goals) != 1 || !strings.Contains(r.Goals[0].Name, "CPU ratio") || r.Goals[0].Measured == "" {
		t.Errorf("goals %+v", r.Goals)
	}
	if len(r.Tables) < 2 || len(r.Tables[0].Rows) != planFor(true).segments || len(r.Tables[1].Rows) == 0 {
		t.Errorf("tables %+v", r.Tables)
	}
	d, ok := r.Data.(Data)
	if !ok {
		t.Fatalf("data is %T", r.Data)
	}
	for _, s := range d.Samples {
		if s.CastnetFFmpegCPU <= 0 || s.BareCPU <= 0 || s.CastnetWall <= 0 || s.BareWall <= 0 || s.Media < 1.5 {
			t.Errorf("sample without positive figures: %+v", s)
		}
	}
	if x := d.Summary.CPURatio; x <= 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		t.Errorf("CPU ratio %v is not a finite positive number", x)
	}
	if len(d.FFmpegArgs) == 0 || !strings.Contains(strings.Join(d.FFmpegArgs, " "), "pipe:0") {
		t.Errorf("ffmpeg args %q", d.FFmpegArgs)
	}
	if _, err := bench.JSON([]*bench.Result{r}); err != nil {
		t.Errorf("result does not encode: %v", err)
	}
	if !strings.Contains(progress.String(), "segment 2/2") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

// TestProfileSegmentsWritesProfilesAndNotes exercises the path a missed
// goal takes, on one segment.
func TestProfileSegmentsWritesProfilesAndNotes(t *testing.T) {
	benchtest.NeedFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, out := t.TempDir(), t.TempDir()
	segs, err := makeInput(ctx, "ffmpeg", dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := startCastnet(ctx, castnetExe, "ffmpeg", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.profileSegments(ctx, segs, out, time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) == 0 || p.Files[0] != orchProfile {
		t.Fatalf("profiles %q", p.Files)
	}
	for _, f := range p.Files {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v", f, err)
		}
	}
	t.Logf("notes: %q", p.Notes)
	if len(p.Notes) != 2 || !strings.Contains(p.Notes[0], orchProfile) {
		t.Errorf("notes %q", p.Notes)
	}
}
