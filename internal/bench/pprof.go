package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// PprofTop runs `go tool pprof -top` with extra flags on a profile and
// returns up to n rows as "function flat% cum%". Without the go tool on
// PATH it returns nothing and no error: the profile is still there to
// read.
func PprofTop(ctx context.Context, path string, n int, extra ...string) ([]string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args := append(append([]string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}, extra...), path)
	out, err := exec.CommandContext(ctx, gobin, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %v: %.200s", err, out)
	}
	return ParseTop(string(out), n), nil
}

// ParseTop reads `go tool pprof -top` text: after the header line that
// starts with "flat", each row is "flat flat% sum% cum cum% function".
func ParseTop(s string, n int) []string {
	var rows []string
	table := false
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if !table {
			table = len(f) > 0 && f[0] == "flat"
			continue
		}
		if len(f) < 6 || !strings.HasSuffix(f[1], "%") || !strings.HasSuffix(f[4], "%") {
			continue
		}
		rows = append(rows, fmt.Sprintf("%s %s flat, %s cum", strings.Join(f[5:], " "), f[1], f[4]))
		if len(rows) == n {
			break
		}
	}
	return rows
}
