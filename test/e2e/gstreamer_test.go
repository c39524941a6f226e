//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gstPython is Debian's interpreter, the one python3-gi installs for.
const gstPython = "/usr/bin/python3"

// TestGStreamerPublisherWithMakeRunDefaults: a GStreamer webrtcbin publisher,
// whose ICE is libnice, goes live on `castnet dev` started exactly as
// `make run` starts it (no flags). libnice gathers no loopback candidate and
// pins its sockets to their interface, so it cannot reach a loopback-only
// port: the default -webrtc-udp local:8189 listens on every address and
// answers this machine only. Both ways GStreamer clients signal are
// covered: the full offer (whipsink) and trickle PATCHes
// (simple-whip-client).
func TestGStreamerPublisherWithMakeRunDefaults(t *testing.T) {
	needGStreamer(t)
	ns := newNetns(t)
	n := ns.startNode(t)
	if !strings.Contains(n.logs.String(), "webrtc_udp=local:8189") ||
		!strings.Contains(n.logs.String(), "answering this machine only") {
		t.Errorf("the start-up log does not say where media is taken from:\n%s", n.logs.String())
	}
	for _, tc := range []struct{ name, flag string }{{"full-offer", ""}, {"trickle", "--trickle"}} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "gst-" + tc.name
			out, err := ns.gstPublish(t, tc.flag, "--duration", "10", n.URL+"/whip/"+stream)
			if err != nil {
				t.Fatalf("gst-whip.py: %v\n%s", err, out)
			}
			if !regexp.MustCompile(`ice-connection-state: (connected|completed)`).MatchString(out) ||
				!strings.Contains(out, "DELETE 200") {
				t.Errorf("publisher did not connect and end cleanly:\n%s", out)
			}
			checkGStreamerStream(t, n, stream, 10)
		})
	}
}

// TestGStreamerOnLoopbackOnlyNodeIsToldWhatToChange: a node bound to
// loopback only cannot take a libnice publisher, and says so at start-up
// and when the offer arrives, naming the flag that fixes it.
func TestGStreamerOnLoopbackOnlyNodeIsToldWhatToChange(t *testing.T) {
	needGStreamer(t)
	ns := newNetns(t)
	n := ns.startNode(t, "-webrtc-udp", "127.0.0.1:8189")
	out, err := ns.gstPublish(t, "--connect-timeout", "6", n.URL+"/whip/gst-loopback")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("publisher to a loopback-only port: %v, want exit 2 (ICE did not connect)\n%s", err, out)
	}
	logs := n.logs.String()
	for _, want := range []string{
		`level=WARN msg="webrtc media on loopback only (-webrtc-udp 127.0.0.1:8189): GStreamer/libnice`,
		`level=WARN msg="publisher may not connect: the offer has no loopback candidate`,
		"use -webrtc-udp local:8189",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("node log lacks %q:\n%s", want, logs)
		}
	}
}

// checkGStreamerStream: the session ended cleanly with its segments
// published, and the source rendition (the pipeline's 640x360 H.264 and
// Opus, which the node carries as AAC) decodes and adds up to the time
// published; playback over HTTP lists it.
func checkGStreamerStream(t *testing.T, n *node, stream string, seconds float64) {
	t.Helper()
	st := n.waitState(stream, "ended", time.Minute)
	if st.LastError != "" || st.Published < int(seconds/2)-1 {
		t.Errorf("stream %s: %d segments published, last error %q", stream, st.Published, st.LastError)
	}
	names := checkRecording(t, filepath.Join(n.Data, "hls", stream), seconds, 0.25,
		map[string][2]int{"source": {640, 360}})
	if len(names) == 0 || names[0] != "source" {
		t.Errorf("renditions %v, want the source first", names)
	}
	resp, err := n.client.Get(n.URL + "/hls/" + stream + "/index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	master, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(master), "RESOLUTION=640x360") {
		t.Errorf("GET multivariant playlist: %d, want the 640x360 source:\n%s", resp.StatusCode, master)
	}
	t.Logf("%s: %d segments, first segment latency %s", stream, st.Published, st.Latency)
}

// needGStreamer skips (fails in CI) without Debian's Python GStreamer
// bindings and the elements the publisher uses.
func needGStreamer(t *testing.T) {
	t.Helper()
	needTools(t, "ffmpeg", "ffprobe", "ip", gstPython)
	out, err := exec.Command(gstPython, gstScript(t), "--check").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("GStreamer publisher unusable in CI (make test installs it): %v\n%s", err, out)
	}
	t.Skipf("GStreamer publisher unusable (scripts/deps.sh test installs it): %v\n%s", err, out)
}

func gstScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "gst-whip.py"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// netns is a network namespace of the test's own: lo, and a veth pair with
// both ends inside, eth0 = 192.0.2.2/24 (libnice skips interfaces named
// veth*) and veth0 = 192.0.2.1/24. libnice gathers on every interface and
// sends UPnP multicast; here nothing it sends leaves the namespace, and
// the node gets the well-known ports of `make run` to itself.
type netns struct {
	name string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the GStreamer publisher runs in a network namespace of its own")
	}
	ns := &netns{name: fmt.Sprintf("castnet-e2e-%d-%s", os.Getpid(), shortName(t.Name()))}
	if out, err := exec.Command("ip", "netns", "add", ns.name).CombinedOutput(); err != nil {
		t.Skipf("ip netns unavailable: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v %s", ns.name, err, out)
		}
	})
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "eth0", "type", "veth", "peer", "name", "veth0"},
		{"addr", "add", "192.0.2.2/24", "dev", "eth0"},
		{"addr", "add", "192.0.2.1/24", "dev", "veth0"},
		{"link", "set", "eth0", "up"},
		{"link", "set", "veth0", "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", ns.name}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s %s: %v %s", ns.name, strings.Join(args, " "), err, out)
		}
	}
	return ns
}

// shortName keeps a test name's letters and digits, few enough for an
// interface-free namespace name.
func shortName(s string) string {
	s = regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(s, "")
	return s[:min(len(s), 24)]
}

// startNode runs `castnet dev` in the namespace with only the flags given,
// from a fresh directory so the default -data lands there.
func (ns *netns) startNode(t *testing.T, flags ...string) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{t: t, Data: filepath.Join(dir, "castnet-data"), logs: &logBuffer{}, client: ns.client()}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name, binary, "dev"}, flags...)...)
	cmd.Dir = dir
	n.start(cmd)
	return n
}

// gstPublish runs the GStreamer WHIP publisher in the namespace; an empty
// argument is dropped.
func (ns *netns) gstPublish(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := []string{"netns", "exec", ns.name, gstPython, gstScript(t)}
	for _, a := range args {
		if a != "" {
			full = append(full, a)
		}
	}
	out, err := exec.CommandContext(ctx, "ip", full...).CombinedOutput()
	return string(out), err
}

// client is an HTTP client whose connections are opened inside the
// namespace: a socket stays in the namespace it was created in.
func (ns *netns) client() *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := ns.inside(func() (err error) {
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial}}
}

// inside runs fn on an OS thread moved into the namespace. A literal
// address is dialled on the calling goroutine, so fn's socket is made
// there.
func (ns *netns) inside(fn func() error) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns.name))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := setns(self); err != nil {
		// Left locked, the thread ends with its goroutine instead of
		// serving others from the wrong namespace.
		return errors.Join(ferr, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

func setns(f *os.File) error {
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", f.Name(), err)
	}
	return nil
}
