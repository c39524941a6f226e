// Package bench is the shape shared by castnet's benchmark suite (`castnet
// bench`, `make bench`): a Part measures one thing beside a bare baseline
// taken in the same run and returns a Result of tables, goals and raw
// figures, which the runner prints and writes as JSON. The parts live in
// sub-packages (ingest, transcode, latency, soak); this package has no
// media code of its own.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Env is what every part gets from the runner.
type Env struct {
	// Exe is the castnet binary to run nodes from (normally this one).
	Exe string
	// Out is the directory for JSON results and pprof profiles.
	Out string
	// Short asks for a smoke run: a few seconds, tiny counts, the same
	// code paths. It checks that the part works, not its numbers.
	Short bool
	// FFmpeg is the ffmpeg binary.
	FFmpeg string
	// Progress receives a line now and then on long work.
	Progress io.Writer
	Log      *slog.Logger
}

// Say writes one progress line.
func (e Env) Say(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, "  "+format+"\n", args...)
	}
}

// Part is one benchmark of the suite.
type Part interface {
	// Name is the part's name on the command line and in the JSON.
	Name() string
	// Run measures; it stops by itself within its budget or when ctx ends.
	Run(ctx context.Context, env Env) (*Result, error)
}

// Result is what a part measured.
type Result struct {
	Part     string    `json:"part"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Short    bool      `json:"short"`
	Method   string    `json:"method"`
	Goals    []Goal    `json:"goals"`
	Tables   []Table   `json:"tables"`
	Profiles []string  `json:"profiles,omitempty"` // pprof files written, relative to Out
	Notes    []string  `json:"notes,omitempty"`    // where time or memory goes, when a goal is missed
	// Data holds the part's raw figures for tools.
	Data any `json:"data"`
}

// Goal is one target of the issue and what was measured against it.
type Goal struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Table is a printed table; cells are already formatted.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// Add appends a row of cells formatted with fmt's %v, floats to 3
// significant digits.
func (t *Table) Add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = Cell(c)
	}
	t.Rows = append(t.Rows, row)
}

// Cell formats one value for a table.
func Cell(v any) string {
	switch x := v.(type) {
	case float64:
		return FormatFloat(x)
	case time.Duration:
		return x.Round(time.Millisecond).String()
	default:
		return fmt.Sprint(v)
	}
}

// FormatFloat prints 3 significant digits, without exponent for ordinary
// sizes.
func FormatFloat(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "-"
	case x == 0:
		return "0"
	case math.Abs(x) >= 1000:
		return fmt.Sprintf("%.0f", x)
	}
	digits := 2 - int(math.Floor(math.Log10(math.Abs(x))))
	return fmt.Sprintf("%.*f", max(digits, 0), x)
}

// Print writes the result as text: goals, then tables.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s (%.0f s%s)\n", r.Part, r.Seconds, map[bool]string{true: ", short smoke run: figures not meaningful"}[r.Short])
	if r.Method != "" {
		fmt.Fprintln(w, wrap(r.Method, 100))
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(r.Goals) > 0 {
		fmt.Fprintln(tw, "\ngoal\ttarget\tmeasured\t")
		for _, g := range r.Goals {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, g.Target, g.Measured, map[bool]string{true: "met", false: "MISSED"}[g.Met])
		}
	}
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "\n%s\n%s\t\n", t.Title, strings.Join(t.Columns, "\t"))
		for _, row := range t.Rows {
			fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
		}
	}
	_ = tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", wrap(n, 100))
	}
	for _, p := range r.Profiles {
		fmt.Fprintln(w, "profile:", p)
	}
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		if n > 0 && n+len(word) >= width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// JSON encodes results as the suite's JSON file.
func JSON(results []*Result) ([]byte, error) {
	return json.MarshalIndent(struct {
		Results []*Result `json:"results"`
	}{results}, "", "  ")
}

// Sleep waits d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Quantile is the q-quantile (0..1) of xs by linear interpolation between
// closest ranks; NaN for none.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// Median is Quantile(xs, 0.5).
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }
