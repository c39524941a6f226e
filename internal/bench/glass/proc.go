package glass

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// killDelay is how long a child gets between SIGTERM and SIGKILL.
const killDelay = 2 * time.Second

// proc is an ffmpeg child in its own process group, so that stopping it
// stops anything it started too.
type proc struct {
	cmd    *exec.Cmd
	stderr *lastBytes
	done   chan struct{}
	err    error // Wait's, once done is closed
	once   sync.Once
}

// startProc starts cmd, whose pipes the caller has set up.
func startProc(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, stderr: &lastBytes{max: 2048}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// wait waits up to d for the child to exit by itself, then stops it.
func (p *proc) wait(d time.Duration) {
	select {
	case <-p.done:
	case <-time.After(d):
		p.stop()
	}
}

// stop sends SIGTERM to the group, SIGKILL after killDelay, and returns
// once the child has exited. Idempotent.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(killDelay):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// lastBytes keeps the end of what a child wrote to stderr, for errors.
type lastBytes struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (l *lastBytes) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, b...)
	if len(l.b) > l.max {
		l.b = l.b[len(l.b)-l.max:]
	}
	return len(b), nil
}

func (l *lastBytes) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(string(l.b))
}
