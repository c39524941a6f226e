package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestQuantileInterpolatesBetweenRanks(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.5, 3}, {1, 5}, {0.25, 2}, {0.95, 4.8}} {
		if got := Quantile(xs, c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q%v = %v, want %v", c.q, got, c.want)
		}
	}
	if xs[0] != 5 {
		t.Error("Quantile sorted its input in place")
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

func TestFormatFloatKeepsThreeSignificantDigits(t *testing.T) {
	for in, want := range map[float64]string{1.23456: "1.23", 0.012345: "0.0123", 123.456: "123", 12345.6: "12346", 0: "0", math.NaN(): "-"} {
		if got := FormatFloat(in); got != want {
			t.Errorf("%v → %q, want %q", in, got, want)
		}
	}
}

func TestResultPrintsGoalsTablesAndMissesLoudly(t *testing.T) {
	r := &Result{Part: "x", Seconds: 3, Method: "a method",
		Goals:  []Goal{{Name: "cpu", Target: "≤ 1.3×", Measured: "1.5×", Met: false}},
		Tables: []Table{{Title: "t", Columns: []string{"n", "cpu"}}}}
	r.Tables[0].Add(100, 0.5)
	r.Tables[0].Add(200, 1500*time.Microsecond)
	var b bytes.Buffer
	r.Print(&b)
	out := b.String()
	for _, want := range []string{"== x", "MISSED", "a method", "100", "0.500", "2ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	js, err := JSON([]*Result{r})
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ Results []Result }
	if err := json.Unmarshal(js, &back); err != nil || len(back.Results) != 1 || back.Results[0].Goals[0].Met {
		t.Fatalf("json round trip: %v %+v", err, back)
	}
}

func TestParseTopReadsPprofRows(t *testing.T) {
	out := `File: castnet
Showing nodes accounting for 4.84s, 100% of 4.84s total
      flat  flat%   sum%        cum   cum%
     0.44s  9.09%  9.09%      0.44s  9.09%  internal/runtime/syscall/linux.Syscall6
         0     0%  9.09%      0.56s 11.57%  github.com/castnet/castnet/internal/broadcaster.(*Stream).publishLoop
`
	got := ParseTop(out, 5)
	want := []string{"internal/runtime/syscall/linux.Syscall6 9.09% flat, 9.09% cum",
		"github.com/castnet/castnet/internal/broadcaster.(*Stream).publishLoop 0% flat, 11.57% cum"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
	if len(ParseTop(out, 1)) != 1 || len(ParseTop("nothing", 3)) != 0 {
		t.Error("row limit or empty input")
	}
}
