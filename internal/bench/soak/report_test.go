package soak

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGoalsFailWhenTheEndStaysAboveTheStart(t *testing.T) {
	start := Level{Goroutines: 10, HeapAlloc: 8 * mib, OpenFDs: 18}
	tests := []struct {
		name string
		end  Level
		met  [3]bool // goroutines, heap, fds
	}{
		{"back to start", start, [3]bool{true, true, true}},
		{"within the allowances", Level{Goroutines: 15, HeapAlloc: 12 * mib, OpenFDs: 22}, [3]bool{true, true, true}},
		{"one leaked session's goroutines", Level{Goroutines: 32, HeapAlloc: 8 * mib, OpenFDs: 18}, [3]bool{false, true, true}},
		{"heap past start × 1.25 + 2 MiB", Level{Goroutines: 10, HeapAlloc: 12*mib + 1, OpenFDs: 18}, [3]bool{true, false, true}},
		{"leaked sockets", Level{Goroutines: 10, HeapAlloc: 8 * mib, OpenFDs: 60}, [3]bool{true, true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := checkGoals(start, tc.end)
			if len(g) != 3 {
				t.Fatalf("%d goals, want 3", len(g))
			}
			for i, want := range tc.met {
				if g[i].Met != want {
					t.Errorf("%s: met %v, want %v (measured %s, target %s)", g[i].Name, g[i].Met, want, g[i].Measured, g[i].Target)
				}
			}
			if allMet(g) != (tc.met == [3]bool{true, true, true}) {
				t.Error("allMet disagrees with the goals")
			}
		})
	}
}

func TestGoalsFailWhenFDsAreUnknown(t *testing.T) {
	if g := checkGoals(Level{OpenFDs: -1}, Level{OpenFDs: -1}); g[2].Met {
		t.Error("unknown FD counts met the goal")
	}
}

func TestPerStreamDividesWhatStreamsAddOverIdle(t *testing.T) {
	idle := Level{Goroutines: 10, HeapAlloc: 1 * mib, RSS: 30 * mib}
	p := perStreamOf(idle, Level{Goroutines: 230, HeapAlloc: 6 * mib, RSS: 50 * mib, Live: 10})
	if p.Streams != 10 || p.Goroutines != 22 || p.Heap != 0.5*mib || p.RSS != 2*mib {
		t.Errorf("got %+v", p)
	}
	if p := perStreamOf(idle, idle); p.Heap != 0 || p.Streams != 0 {
		t.Errorf("no streams: %+v", p)
	}
}

func TestThinKeepsTheEndsAndAtMostN(t *testing.T) {
	xs := make([]int, 61)
	for i := range xs {
		xs[i] = i
	}
	got := thin(xs, 20)
	if len(got) != 20 || got[0] != 0 || got[19] != 60 {
		t.Fatalf("thin: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("not increasing: %v", got)
		}
	}
	if got := thin(xs[:5], 20); len(got) != 5 {
		t.Errorf("short series thinned to %d", len(got))
	}
}

func TestResolveShortReplacesTheFiguresButKeepsTheSeed(t *testing.T) {
	c := Config{Duration: time.Hour, Publishers: 99, Seed: 7}.resolve(true)
	if c.Duration > 20*time.Second || c.Publishers > 5 || c.Seed != 7 {
		t.Errorf("short: %+v", c)
	}
	full := Config{Duration: 3 * time.Minute}.resolve(false)
	if full.Duration != 3*time.Minute || full.Publishers != DefaultPublishers || full.Seed != 1 ||
		len(full.Counts) != 2 || full.Every != 10*time.Second {
		t.Errorf("full: %+v", full)
	}
	if d := (Config{}).resolve(false).Duration; d != DefaultDuration {
		t.Errorf("default duration %s", d)
	}
}

func TestWithholdDeleteNeverSendsTheDelete(t *testing.T) {
	var deletes, posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			deletes.Add(1)
		} else {
			posts.Add(1)
		}
	}))
	defer srv.Close()
	c := &http.Client{Transport: withholdDelete{srv.Client().Transport}}
	defer c.CloseIdleConnections()
	resp, err := c.Post(srv.URL, "application/sdp", strings.NewReader("v=0"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/whip/x/1", nil)
	if _, err := c.Do(req); err == nil {
		t.Error("DELETE succeeded")
	}
	if deletes.Load() != 0 || posts.Load() != 1 {
		t.Errorf("server saw %d DELETEs and %d POSTs, want 0 and 1", deletes.Load(), posts.Load())
	}
}

func TestTopLinesKeepsTheTotalAndTheFirstRows(t *testing.T) {
	out := `File: castnet
Type: inuse_space
Showing nodes accounting for 2MB, 100% of 2MB total
      flat  flat%   sum%        cum   cum%
       1MB 50.00% 50.00%        1MB 50.00%  a.b
     0.5MB 25.00% 75.00%      0.5MB 25.00%  c.d
     0.5MB 25.00%   100%      0.5MB 25.00%  e.f
`
	got := topLines(out, 2)
	want := []string{"Showing nodes accounting for 2MB, 100% of 2MB total",
		"1MB 50.00% 50.00% 1MB 50.00% a.b", "0.5MB 25.00% 75.00% 0.5MB 25.00% c.d"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
}

func TestTopStacksSummarisesTheLargestGroups(t *testing.T) {
	dump := `goroutine profile: total 45
30 @ 0x1 0x2 0x3
#	0x1	internal/poll.runtime_pollWait+0x84	/go/src/runtime/netpoll.go:1
#	0x2	github.com/pion/ice/v4.(*Agent).loop+0x10	/m/agent.go:2
#	0x3	github.com/castnet/castnet/internal/ingest/whip.(*session).readVideo+0x5	/w/s.go:3

15 @ 0x4
#	0x4	time.Sleep+0x1	/go/src/time.go:1
`
	got := topStacks(dump, 5)
	if len(got) != 2 || !strings.HasPrefix(got[0], "30 × ") || !strings.Contains(got[0], "whip.(*session).readVideo") ||
		!strings.HasPrefix(got[1], "15 × time.Sleep") {
		t.Errorf("got %q", got)
	}
}

func TestEndingNames(t *testing.T) {
	for e, want := range map[Ending]string{EndClean: "clean", EndDropped: "dropped", EndKilled: "killed", 9: "ending(9)"} {
		if e.String() != want {
			t.Errorf("%d: %q, want %q", int(e), e, want)
		}
	}
}
