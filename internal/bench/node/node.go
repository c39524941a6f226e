// Package node runs a castnet role as a child process for the benchmarks:
// on free loopback ports, with its debug endpoints on, so that its CPU and
// memory are its own (procstat) and its profiles and runtime counters can
// be read over HTTP.
package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/castnet/castnet/internal/bench/procstat"
	"github.com/castnet/castnet/internal/debugsrv"
)

// ErrStart reports a node that exited or never said it was up.
var ErrStart = errors.New("node: did not start")

// Node is a running castnet child process.
type Node struct {
	// URL is the node's HTTP base (pages, WHIP, API; /v1 for an orchestrator).
	URL string
	// Debug is the base of its /debug endpoints.
	Debug string
	// Data is its -data directory ("" for roles without one).
	Data string

	cmd    *exec.Cmd
	logs   *tail
	exited chan struct{}
	once   sync.Once
}

var (
	upURL    = regexp.MustCompile(`(?:publish|url)=(http://127\.0\.0\.1:\d+)/?`)
	debugURL = regexp.MustCompile(`pprof=(http://127\.0\.0\.1:\d+)/debug/pprof/`)
)

// Start runs `exe role args...` with -http, -debug-addr (and for dev,
// broadcaster and the bench receiver -webrtc-udp) on free loopback ports,
// and waits up to 30 s for the node to say it is up. role may be a
// command and subcommand ("bench receiver").
func Start(ctx context.Context, exe, role string, args ...string) (*Node, error) {
	all := append(strings.Fields(role), "-http", "127.0.0.1:0", "-debug-addr", "127.0.0.1:0")
	if role == "dev" || role == "broadcaster" || role == "bench receiver" {
		all = append(all, "-webrtc-udp", "127.0.0.1:0")
	}
	// Later flags win, so a caller may override any of these.
	all = append(all, args...)
	n := &Node{cmd: exec.Command(exe, all...), logs: newTail(64), exited: make(chan struct{})}
	for i, a := range all {
		if a == "-data" && i+1 < len(all) {
			n.Data = all[i+1]
		}
	}
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	up, dbg := make(chan string, 1), make(chan string, 1)
	go n.scan(stderr, up, dbg)
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for n.URL == "" || n.Debug == "" {
		select {
		case n.URL = <-up:
		case n.Debug = <-dbg:
		case <-n.exited:
			return nil, fmt.Errorf("%w: %s %s exited:\n%s", ErrStart, role, strings.Join(args, " "), n.logs)
		case <-timer.C:
			n.Stop()
			return nil, fmt.Errorf("%w: %s not up in 30 s:\n%s", ErrStart, role, n.logs)
		case <-ctx.Done():
			n.Stop()
			return nil, ctx.Err()
		}
	}
	return n, nil
}

// scan keeps the log's tail and finds the URLs the node announces in its
// info-level "is up" and "debug endpoints up" lines (the node runs at its
// default log level, as in production).
func (n *Node) scan(r io.Reader, up, dbg chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		n.logs.add(line)
		if m := debugURL.FindStringSubmatch(line); m != nil {
			trySend(dbg, m[1])
		} else if m := upURL.FindStringSubmatch(line); m != nil && strings.Contains(line, " is up") {
			trySend(up, m[1])
		}
	}
}

func trySend(c chan<- string, v string) {
	select {
	case c <- v:
	default:
	}
}

// PID is the child's process ID.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// Stat reads the child's CPU and memory.
func (n *Node) Stat() (procstat.Proc, error) { return procstat.Read(n.PID()) }

// Runtime reads its /debug/runtime (after a GC when gc is set).
func (n *Node) Runtime(ctx context.Context, gc bool) (debugsrv.Runtime, error) {
	var rt debugsrv.Runtime
	u := n.Debug + "/debug/runtime"
	if gc {
		u += "?gc=1"
	}
	err := GetJSON(ctx, u, &rt)
	return rt, err
}

// Profile fetches a CPU profile of d seconds, or a heap profile when
// kind is "heap", and writes it to path.
func (n *Node) Profile(ctx context.Context, kind string, d time.Duration, path string) error {
	u := n.Debug + "/debug/pprof/heap"
	if kind == "cpu" {
		u = fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", n.Debug, int(d.Seconds()))
	}
	body, err := get(ctx, u)
	if err != nil {
		return fmt.Errorf("profile %s: %w", kind, err)
	}
	defer body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, body)
	return errors.Join(err, f.Close())
}

// Logs is the tail of what the node wrote to stderr.
func (n *Node) Logs() string { return n.logs.String() }

// Stop sends SIGTERM, waits up to 10 s, then kills the process group.
func (n *Node) Stop() {
	n.once.Do(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-n.exited
		}
	})
}

// GetJSON GETs u and decodes its JSON body into v.
func GetJSON(ctx context.Context, u string, v any) error {
	body, err := get(ctx, u)
	if err != nil {
		return err
	}
	defer body.Close()
	return json.NewDecoder(body).Decode(v)
}

// get GETs u and returns the body of a 200; any other status is an error
// that quotes the start of the body.
func get(ctx context.Context, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp.Body, nil
}

// tail keeps the last lines written.
type tail struct {
	mu    sync.Mutex
	lines []string
	max   int
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
