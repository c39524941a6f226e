package transcodecost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/bench"
)

// Profile files written to Env.Out when the goal is missed.
const (
	orchProfile   = "transcode-orchestrator.cpu.pprof"
	clientProfile = "transcode-client.cpu.pprof"
)

// profiled is what profileSegments wrote and learnt.
type profiled struct {
	Files []string // relative to the output directory
	Notes []string
}

// profileSegments sends segments through castnet while the orchestrator
// takes a CPU profile of d (its Go code only: ffmpeg is a separate
// process) and this process profiles its own client work, when nothing
// else here is profiling already. It stops after the profile and at
// least atLeast segments.
func (c *castnetPath) profileSegments(ctx context.Context, segs []segment, out string, d time.Duration, atLeast int) (profiled, error) {
	var p profiled
	client, clientErr := startClientProfile(filepath.Join(out, clientProfile))
	done := make(chan error, 1)
	go func() { done <- c.node.Profile(ctx, "cpu", d, filepath.Join(out, orchProfile)) }()
	var sendErr error
	var profErr error
	running := true
	for i := 0; sendErr == nil && (running || i < atLeast); i++ {
		_, sendErr = c.run(ctx, profileSeq+i, segs[i%len(segs)])
		select {
		case profErr = <-done:
			running = false
		default:
		}
	}
	if running {
		profErr = <-done
	}
	if clientErr == nil {
		clientErr = client()
	}
	if profErr == nil {
		p.Files = append(p.Files, orchProfile)
		p.Notes = append(p.Notes, topNote(ctx, "orchestrator", filepath.Join(out, orchProfile)))
	}
	if clientErr == nil {
		p.Files = append(p.Files, clientProfile)
		p.Notes = append(p.Notes, topNote(ctx, "client", filepath.Join(out, clientProfile)))
	} else {
		p.Notes = append(p.Notes, fmt.Sprintf("client not profiled: %v", clientErr))
	}
	return p, errors.Join(sendErr, profErr)
}

// startClientProfile profiles this process into path; the returned func
// stops and closes it. It fails when a profile is already running.
func startClientProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return func() error { pprof.StopCPUProfile(); return f.Close() }, nil
}

// topNote names the profile's heaviest functions when the go tool is at
// hand to read it, and only the file otherwise.
func topNote(ctx context.Context, who, path string) string {
	base := fmt.Sprintf("%s CPU profile: %s", who, filepath.Base(path))
	gobin, err := exec.LookPath("go")
	if err != nil {
		return base + " (read it with `go tool pprof -top`)"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, gobin, "tool", "pprof", "-top", "-nodecount=8", path).Output()
	if err != nil {
		return base + fmt.Sprintf(" (go tool pprof failed: %v)", err)
	}
	top := bench.ParseTop(string(out), 8)
	if len(top) == 0 {
		return base + " (no samples)"
	}
	return base + "; top by flat CPU: " + strings.Join(top, ", ")
}
