package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPublishTestPattern: `castnet publish -test-pattern` into `castnet dev`
// gives an ended HLS recording whose every rendition has the right size and
// adds up to the published time.
func TestPublishTestPattern(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	n := startNode(t)
	const seconds = 12
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := publish(ctx, "-test-pattern", "-duration", "12s", n.URL+"/whip/e2e")
	if err != nil {
		t.Fatalf("castnet publish: %v\n%s", err, out)
	}
	if !strings.Contains(out, "elapsed") {
		t.Errorf("publish printed no progress line:\n%s", out)
	}
	st := n.waitState("e2e", "ended", time.Minute)
	if st.LastError != "" {
		t.Errorf("stream error: %s", st.LastError)
	}
	names := checkRecording(t, filepath.Join(n.Data, "hls", "e2e"), seconds, 0.10, map[string][2]int{
		"source": {1280, 720}, "480p": {854, 480}, "360p": {640, 360},
	})
	slices.Sort(names)
	if want := []string{"360p", "480p", "source"}; !slices.Equal(names, want) {
		t.Errorf("renditions %v, want %v (720p dropped: it is not below the 720p source)", names, want)
	}
	// Playback over HTTP serves what is on disk.
	if master := get(t, n.URL+"/hls/e2e/index.m3u8"); !strings.Contains(master, "RESOLUTION=1280x720") {
		t.Errorf("multivariant playlist lacks the source:\n%s", master)
	}
	t.Logf("first segment latency %s, %d segments", st.Latency, st.Published)
}

// publisher is a `castnet publish` running in the background, with its own
// temp directory and an ffmpeg whose path names it.
type publisher struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *logBuffer
	tmp    string
	ffmpeg string // a link to ffmpeg found in no other process's command line
	done   chan struct{}
}

func startPublisher(t *testing.T, args ...string) *publisher {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{t: t, out: &logBuffer{}, tmp: t.TempDir(), done: make(chan struct{})}
	bin := t.TempDir()
	p.ffmpeg = filepath.Join(bin, "ffmpeg")
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if err := os.Symlink(filepath.Join(filepath.Dir(ffmpeg), tool), filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	p.cmd = exec.Command(binary, append([]string{"publish", "-ffmpeg", p.ffmpeg}, args...)...)
	p.cmd.Env = append(os.Environ(), "TMPDIR="+p.tmp)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("castnet publish output:\n%s", p.out)
		}
	})
	return p
}

// waitOutput waits until the publisher has printed s.
func (p *publisher) waitOutput(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("castnet publish did not print %q within %s:\n%s", s, timeout, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exit waits for the publisher to exit and returns its status and output.
func (p *publisher) exit(timeout time.Duration) (int, string) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("castnet publish still running after %s:\n%s", timeout, p.out)
	}
	return p.cmd.ProcessState.ExitCode(), p.out.String()
}

// checkNothingLeft asserts that the publisher left no files in its temp
// directory and no ffmpeg running.
func (p *publisher) checkNothingLeft() {
	p.t.Helper()
	if left, _ := os.ReadDir(p.tmp); len(left) != 0 {
		p.t.Errorf("castnet publish left %s in its TMPDIR", left[0].Name())
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.ffmpegRunning() {
		if time.Now().After(deadline) {
			p.t.Error("the publisher's ffmpeg outlived it by 5 s")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFFmpeg waits until the publisher's ffmpeg is running.
func (p *publisher) waitFFmpeg(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !p.ffmpegRunning() {
		if time.Now().After(deadline) {
			p.t.Fatalf("castnet publish started no ffmpeg within %s:\n%s", timeout, p.out)
		}
		time.Sleep(time.Millisecond)
	}
}

// ffmpegRunning looks for a process started as p.ffmpeg (Linux only).
func (p *publisher) ffmpegRunning() bool {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, _ := os.ReadFile(f)
		if argv0, _, _ := strings.Cut(string(b), "\x00"); argv0 == p.ffmpeg {
			return true
		}
	}
	return false
}

// consentTimeout is how long castnet's node, and so castnet publish, waits
// for ICE consent before giving up on the other end (internal/rtc): 5 s to
// disconnected, 10 s more to failed.
const consentTimeout = 15 * time.Second

// TestPublishSaysHowTheSessionEnded: `castnet publish` exits 0 only when it
// published to the end, and otherwise says in one line what happened, with
// an exit status per kind (see `castnet publish -h`). It leaves no files
// and no ffmpeg behind on any path, SIGKILL of itself included.
func TestPublishSaysHowTheSessionEnded(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	pattern := []string{"-test-pattern", "-width", "320", "-height", "240", "-bitrate", "300000"}
	t.Run("a clean finish exits 0", func(t *testing.T) {
		n := startNode(t)
		p := startPublisher(t, append(pattern, "-duration", "3s", n.URL+"/whip/clean")...)
		code, out := p.exit(time.Minute)
		if code != 0 || !strings.Contains(out, "published for") {
			t.Errorf("exit %d, want 0 and \"published for\":\n%s", code, out)
		}
		n.waitState("clean", "ended", 30*time.Second)
		p.checkNothingLeft()
	})
	t.Run("a refused offer exits 1 with the status and reason", func(t *testing.T) {
		n := startNode(t, "-publish-token", "right")
		p := startPublisher(t, append(pattern, "-token", "wrong", n.URL+"/whip/refused")...)
		code, out := p.exit(time.Minute)
		if code != 1 || !strings.Contains(out, "castnet: publish: the WHIP server refused the offer: 401 Unauthorized") {
			t.Errorf("exit %d, want 1 and the 401:\n%s", code, out)
		}
		p.checkNothingLeft()
	})
	for _, tc := range []struct {
		name   string
		signal os.Signal
		code   int
		line   string // after "castnet: publish: ", with the time since connecting as TIME
	}{
		{"a node killed mid-stream exits 3 within the consent timeout", syscall.SIGKILL, 3,
			"connection lost after TIME of 1m0s: ICE disconnected and the server refuses HTTP connections: it is not running"},
		{"a node that ends the session exits 4", syscall.SIGTERM, 4,
			"the server ended the session after TIME of 1m0s: it closed the connection (DTLS close_notify)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t)
			p := startPublisher(t, append(pattern, "-duration", "60s", n.URL+"/whip/gone")...)
			p.waitOutput("elapsed 00:03", time.Minute)
			n.cmd.Process.Signal(tc.signal)
			at := time.Now()
			n.cmd.Wait()
			code, out := p.exit(2 * consentTimeout)
			took := time.Since(at)
			t.Logf("castnet publish exited %d, %v after the node's %v", code, took.Round(10*time.Millisecond), tc.signal)
			// About 3 s: the node was last heard from up to a second before.
			line := regexp.MustCompile("(?m)^castnet: publish: " +
				strings.Replace(regexp.QuoteMeta(tc.line), "TIME", `[23](\.\d)?s`, 1) + "$")
			if code != tc.code || !line.MatchString(out) {
				t.Errorf("exit %d, want %d and a line matching %s:\n%s", code, tc.code, line, out)
			}
			if took > consentTimeout {
				t.Errorf("castnet publish took %v to notice, more than the %v consent timeout", took, consentTimeout)
			}
			p.checkNothingLeft()
		})
	}
	t.Run("a publisher killed while preparing or publishing leaves nothing", func(t *testing.T) {
		n := startNode(t)
		for _, after := range []string{"", "elapsed 00:01"} {
			p := startPublisher(t, append(pattern, n.URL+"/whip/killed")...)
			if after != "" {
				p.waitOutput(after, time.Minute)
			} else {
				p.waitFFmpeg(30 * time.Second)
			}
			p.cmd.Process.Kill()
			p.exit(10 * time.Second)
			p.checkNothingLeft()
		}
	})
}
