// Package e2e runs castnet as a user does: the real binary, the real
// ffmpeg, the real browser, on loopback.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the castnet built once for every test in the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "castnet-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "castnet")
	build := exec.Command("go", "build", "-o", binary, "github.com/castnet/castnet/cmd/castnet")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build castnet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI (make test installs it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// node is a running `castnet dev`.
type node struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string
	Data string
	logs *logBuffer
	// client reaches URL (nil: http.DefaultClient); a node in a network
	// namespace is reached through one that dials inside it.
	client *http.Client
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var upLine = regexp.MustCompile(`publish=http://(127\.0\.0\.1:\d+)/`)

// startNode runs `castnet dev` on free loopback ports and waits until it
// is serving.
func startNode(t testing.TB, extra ...string) *node {
	t.Helper()
	return startRole(t, "dev", extra...)
}

// startRole runs `castnet ROLE` (dev or broadcaster) like startNode.
func startRole(t testing.TB, role string, extra ...string) *node {
	t.Helper()
	n := &node{t: t, Data: t.TempDir(), logs: &logBuffer{}}
	// -webrtc-udp as make run has it (local:), on a free port.
	args := append([]string{role, "-http", "127.0.0.1:0", "-webrtc-udp", "local:0", "-data", n.Data}, extra...)
	n.start(exec.Command(binary, args...))
	return n
}

// start runs cmd, a castnet node, and waits until it is serving.
func (n *node) start(cmd *exec.Cmd) {
	t := n.t
	t.Helper()
	n.cmd = cmd
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(n.logs, line)
			if m := upLine.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("castnet dev log:\n%s", n.logs.String())
		}
	})
	select {
	case addr := <-found:
		n.URL = "http://" + addr
	case <-time.After(30 * time.Second):
		t.Fatalf("castnet dev did not start:\n%s", n.logs.String())
	}
}

// stop sends SIGTERM, as Ctrl-C would, and waits for a clean exit.
func (n *node) stop() {
	if n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			n.t.Errorf("castnet dev exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
		n.t.Error("castnet dev did not exit within 30s of SIGTERM")
	}
}

// streamState is the part of /api/streams/{stream} the tests read.
type streamState struct {
	State      string `json:"state"`
	Segments   int    `json:"segments"`
	Published  int    `json:"segments_published"`
	Failures   int    `json:"transcode_failures"`
	LastError  string `json:"last_error"`
	SourceOnly int    `json:"segments_source_only"`
	Failed     int    `json:"segments_failed"`
	Storage    string `json:"storage"`
	Recovered  bool   `json:"recovered"`
	Latency    string `json:"first_segment_latency"`
	Turnaround *struct {
		Segments int     `json:"segments"`
		P50      float64 `json:"p50_ms"`
		P95      float64 `json:"p95_ms"`
		Max      float64 `json:"max_ms"`
	} `json:"turnaround"`
	Renditions []struct {
		Name          string `json:"name"`
		Width, Height int
	} `json:"renditions"`
}

func (n *node) stream(name string) (streamState, int) {
	c := n.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Get(n.URL + "/api/streams/" + name)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st streamState
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			n.t.Fatal(err)
		}
	}
	return st, resp.StatusCode
}

// waitState polls the API until the stream reaches want.
func (n *node) waitState(name, want string, timeout time.Duration) streamState {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, code := n.stream(name)
		if code == http.StatusOK && st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("stream %s: state %q (HTTP %d) after %s, want %q", name, st.State, code, timeout, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// publish runs `castnet publish` and returns its output.
func publish(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, binary, append([]string{"publish"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
