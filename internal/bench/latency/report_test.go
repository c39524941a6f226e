package latency

import (
	"strings"
	"testing"
	"time"
)

// fakeRun is a finished run with made-up figures: go-lives of 2.2 s and
// 3.4 s and 2.3 s, one stream with turnarounds 100..400 ms, a bare ladder
// of 800 ms.
func fakeRun(oneStream []float64) *run {
	r := &run{plan: planFor(false), bare: &bareLadder{runs: []time.Duration{700 * time.Millisecond,
		800 * time.Millisecond, 900 * time.Millisecond}}}
	r.data = Data{SegmentMS: 2000, Renditions: []string{"source", "480p", "360p"},
		GoLive: []GoLive{{PlayableMS: 2200, NodeMS: 2150}, {PlayableMS: 3400, NodeMS: 3300}, {PlayableMS: 2300, NodeMS: 2250}},
		Turnaround: []TurnaroundRun{
			{Streams: 1, PerStream: []StreamTurnaround{{Stream: "a", TurnaroundMS: oneStream}}},
			{Streams: 2, PerStream: []StreamTurnaround{{Stream: "b", TurnaroundMS: []float64{300}, SourceOnly: 1},
				{Stream: "c", TurnaroundMS: []float64{500}}}},
		},
		BareLadderMS: []float64{700, 800, 900},
		Load:         []Load{{Phase: "go-live", CPUs: 2, Other: 1.5}}}
	return r
}

func TestResultGoalsUseTheSegmentAndTheBaseline(t *testing.T) {
	var one []float64
	for i := 1; i <= 101; i++ {
		one = append(one, float64(i)*4) // 4..404 ms: p95 = 384, p99 = 400
	}
	res := fakeRun(one).result(time.Now())
	want := []struct {
		target, measured string
		met              bool
	}{
		{"≤ 3000 ms", "2300 ms (0.821 × floor)", true}, // p50 of 2200, 2300, 3400; floor 2000 + 800
		{"≤ 600 ms", "384 ms (0.480 × bare)", true},
		{"≤ 1000 ms", "400 ms (0.500 × bare)", true},
	}
	for i, w := range want {
		g := res.Goals[i]
		if !strings.HasPrefix(g.Target, w.target) || g.Measured != w.measured || g.Met != w.met {
			t.Errorf("goal %d: got %+v, want %+v", i, g, w)
		}
	}
	tab := res.Tables[1]
	if got := tab.Rows[1]; got[0] != "castnet, 2 streams at once" || got[1] != "2" || got[2] != "400" {
		t.Errorf("loaded row pools both streams: %q", got)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, s := range []string{"go-live has 3 samples", "1 segments were published source only", `1.5 of 2 cores busy during "go-live"`} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes lack %q:\n%s", s, notes)
		}
	}
}

func TestResultMissesGoalsItDoesNotMeet(t *testing.T) {
	res := fakeRun([]float64{100, 200, 700, 1200}).result(time.Now())
	if !res.Goals[0].Met || res.Goals[1].Met || res.Goals[2].Met {
		t.Fatalf("want go-live met, p95 and p99 missed: %+v", res.Goals)
	}
}
