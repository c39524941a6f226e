package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

var orchUp = regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)

// TestOrchestratorTranscodesStreamedSegments: a real `castnet orchestrator`
// takes a 720p segment over HTTP and answers with the ladder.
func TestOrchestratorTranscodesStreamedSegments(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	base, _, _ := startOrchestrator(t, "-capacity", "1", "-price", "3")
	testOrchestrator(t, base)
}

// startOrchestrator runs `castnet orchestrator` on a free loopback port and
// returns its URL, process and log; it is stopped when the test ends.
func startOrchestrator(t *testing.T, extra ...string) (string, *exec.Cmd, *logBuffer) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"orchestrator", "-http", "127.0.0.1:0"}, extra...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	urls := make(chan string, 1)
	logs := &logBuffer{}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if m := orchUp.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case base := <-urls:
		return base, cmd, logs
	case <-time.After(20 * time.Second):
		t.Fatal("castnet orchestrator did not start")
	}
	return "", nil, nil
}

func testOrchestrator(t *testing.T, base string) {

	resp, err := http.Get(base + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Protocol string `json:"protocol"`
		Free     int    `json:"free"`
		Price    string `json:"price_per_pixel"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.Protocol != "castnet/2" || info.Free != 1 || info.Price != "3" {
		t.Errorf("info %+v", info)
	}

	in := filepath.Join(t.TempDir(), "seg.ts")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "veryfast",
		"-bf", "0", "-c:a", "libopus", "-f", "mpegts", in).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &remote.Client{URL: base}
	rends, err := c.Transcode(ctx, transcode.Job{Seq: 0, Input: f,
		Profiles: transcode.Ladder(transcode.DefaultLadder(), 1280, 720), SourceWidth: 1280, SourceHeight: 720})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{"source": {1280, 720}, "480p": {854, 480}, "360p": {640, 360}}
	if len(rends) != len(want) {
		t.Fatalf("%d renditions, want %d", len(rends), len(want))
	}
	dir := t.TempDir()
	for _, r := range rends {
		path := filepath.Join(dir, r.Profile.Name+".ts")
		if err := os.WriteFile(path, r.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		p := ffprobe(t, path)
		if w := want[r.Profile.Name]; p.Width != w[0] || p.Height != w[1] || p.AudioCodec != "aac" {
			t.Errorf("%s: %+v, want %v with AAC", r.Profile.Name, p, w)
		}
		decodes(t, path)
	}
}

func TestOrchestratorRefusesRemoteModeForNow(t *testing.T) {
	out, err := exec.Command(binary, "orchestrator", "-transcode", "remote").CombinedOutput()
	if err == nil || !regexp.MustCompile(`not built yet`).Match(out) {
		t.Fatalf("%v %s", err, out)
	}
}
