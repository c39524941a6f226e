package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/bench/node"
)

// heapProfile writes the node's heap profile to Out/name and returns name,
// or "" (with the error logged) when it could not.
func heapProfile(ctx context.Context, r *run, n *node.Node, name string) string {
	if err := n.Profile(ctx, "heap", 0, filepath.Join(r.env.Out, name)); err != nil {
		r.note("heap profile %s: %v", name, err)
		return ""
	}
	r.res.Profiles = append(r.res.Profiles, name)
	return name
}

// pprofTop runs `go tool pprof -top` on Out/profile (against Out/base with
// -diff_base when base is set) and returns its first lines of figures.
// Without go on PATH it returns nothing: the profile is still there to
// read.
func pprofTop(ctx context.Context, out, profile, base string, lines int) ([]string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	args := []string{"tool", "pprof", "-top", "-sample_index=inuse_space"}
	if base != "" {
		args = append(args, "-diff_base", filepath.Join(out, base))
	}
	b, err := exec.CommandContext(ctx, goTool, append(args, filepath.Join(out, profile))...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %v: %s", err, strings.TrimSpace(lastLine(string(b))))
	}
	return topLines(string(b), lines), nil
}

// topLines keeps pprof -top's totals line and its first n rows.
func topLines(out string, n int) []string {
	var keep []string
	rows := -1 // counting starts after the column header
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "Showing nodes"):
			keep = append(keep, l)
		case strings.HasPrefix(l, "flat "):
			rows = 0
		case rows >= 0 && rows < n && l != "":
			keep = append(keep, strings.Join(strings.Fields(l), " "))
			rows++
		}
	}
	return keep
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// goroutineDump writes the node's goroutines grouped by stack
// (/debug/pprof/goroutine?debug=1) to Out/name and returns its largest
// groups, summarised.
func goroutineDump(ctx context.Context, n *node.Node, out, name string, groups int) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.Debug+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("goroutine dump: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
		return nil, err
	}
	return topStacks(string(b), groups), nil
}

// topStacks summarises the first groups of a debug=1 goroutine profile,
// which lists the most common stacks first: "N × innermost ← … ← outer"
// with the castnet frames that explain who started them.
func topStacks(dump string, groups int) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(dump))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var count string
	var frames []string
	flush := func() {
		if count != "" {
			out = append(out, count+" × "+strings.Join(frames, " ← "))
		}
		count, frames = "", nil
	}
	for sc.Scan() && len(out) < groups {
		l := sc.Text()
		switch {
		case strings.Contains(l, " @ 0x"):
			flush()
			count, _, _ = strings.Cut(l, " @ ")
		case count != "" && strings.HasPrefix(l, "#\t"):
			f := strings.Fields(l)
			if len(f) >= 3 && (len(frames) < 2 || strings.Contains(f[2], "castnet/internal")) && len(frames) < 6 {
				frames = append(frames, shortFunc(f[2]))
			}
		case l == "":
			flush()
		}
	}
	flush()
	return out
}

// shortFunc drops the import path before a function's package.
func shortFunc(f string) string {
	if i := strings.LastIndexByte(f, '/'); i >= 0 {
		return f[i+1:]
	}
	return f
}

var errNotSettled = errors.New("soak: node did not settle")
