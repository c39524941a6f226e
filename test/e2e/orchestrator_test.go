package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
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
	base, _, _ := paidOrchestrator(t, "-capacity", "1")
	testOrchestrator(t, base)
}

// paidOrchestrator runs an orchestrator that charges 3 wei per pixel,
// signing with a fresh key and taking tickets against a fresh ledger,
// which the test's broadcaster shares (as nodes on one machine would).
func paidOrchestrator(t *testing.T, extra ...string) (string, *exec.Cmd, *logBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	testLedgers.Store(t.Name(), path)
	args := append([]string{"-price", "3", "-ledger", path}, keyFlags(t, newKey(t))...)
	return startOrchestrator(t, append(args, extra...)...)
}

// testLedgers maps a test to the ledger file its orchestrator uses.
var testLedgers sync.Map

// startOrchestrator runs `castnet orchestrator` on a free loopback port and
// returns its URL, process and log; it is stopped when the test ends.
func startOrchestrator(t testing.TB, extra ...string) (string, *exec.Cmd, *logBuffer) {
	t.Helper()
	return startProc(t, append([]string{"orchestrator", "-http", "127.0.0.1:0"}, extra...)...)
}

// startTranscoder runs `castnet transcoder` registered with the
// orchestrator at orch, and waits until the orchestrator counts its slots.
func startTranscoder(t testing.TB, orch, secret string, capacity int, extra ...string) (string, *exec.Cmd, *logBuffer) {
	t.Helper()
	before := orchInfo(t, orch).Capacity
	url, cmd, logs := startProc(t, append([]string{"transcoder", "-http", "127.0.0.1:0", "-orchestrator", orch,
		"-secret", secret, "-capacity", strconv.Itoa(capacity)}, extra...)...)
	deadline := time.Now().Add(20 * time.Second)
	for orchInfo(t, orch).Capacity < before+capacity {
		if time.Now().After(deadline) {
			t.Fatalf("the transcoder never registered:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return url, cmd, logs
}

// startProc runs castnet with args, waits for the line that gives its URL,
// and stops it (SIGTERM) when the test ends.
func startProc(t testing.TB, args ...string) (string, *exec.Cmd, *logBuffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("castnet %s log:\n%s", args[0], logs.String())
		}
	})
	urls := make(chan string, 1)
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
		t.Fatalf("castnet %s did not start:\n%s", args[0], logs.String())
	}
	return "", nil, nil
}

// info is the part of an orchestrator's /api/info the tests read.
type info struct {
	Protocol string `json:"protocol"`
	Capacity int    `json:"capacity"`
	Free     int    `json:"free"`
	Price    string `json:"price_per_pixel"`
}

func orchInfo(t testing.TB, base string) info {
	t.Helper()
	resp, err := http.Get(base + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in info
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatalf("/api/info: %v", err)
	}
	return in
}

func testOrchestrator(t *testing.T, base string) {
	if in := orchInfo(t, base); in.Protocol != "castnet/2" || in.Free != 1 || in.Capacity != 1 || in.Price != "3" {
		t.Errorf("info %+v", in)
	}

	in := filepath.Join(t.TempDir(), "seg.ts")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "veryfast",
		"-bf", "0", "-c:a", "libopus", "-f", "mpegts", in).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	seg, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job := transcode.Job{Stream: "e2e", Seq: 0, Input: bytes.NewReader(seg),
		Profiles: transcode.Ladder(transcode.DefaultLadder(), 1280, 720), SourceWidth: 1280, SourceHeight: 720}
	// Unpaid and unsigned, the segment is refused before any work.
	var se *remote.StatusError
	if _, err := (&remote.Client{URL: base}).Transcode(ctx, job); !errors.As(err, &se) || se.Code != http.StatusPaymentRequired {
		t.Fatalf("unpaid segment: %v, want 402", err)
	}
	// A reader of its own: the refused upload may still be reading the
	// first one after its answer came.
	job.Input = bytes.NewReader(seg)
	path, _ := testLedgers.Load(t.Name())
	c := &remote.Client{URL: base, Sealer: payingSealer(t, newKey(t), openLedger(t, path.(string)), base)}
	rends, err := c.Transcode(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if rends[0].Proof == "" {
		t.Fatal("the answer carried no signed receipt")
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

// TestRemoteOrchestratorTranscodesThroughTranscoder: an orchestrator in
// remote mode has no capacity until a `castnet transcoder` registers, then
// serves the same request through it.
func TestRemoteOrchestratorTranscodesThroughTranscoder(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	base, _, _ := paidOrchestrator(t, "-transcode", "remote", "-secret", "s3cret")
	if in := orchInfo(t, base); in.Capacity != 0 || in.Free != 0 {
		t.Fatalf("capacity before any transcoder: %+v", in)
	}
	startTranscoder(t, base, "s3cret", 1)
	var ts struct {
		Capacity    int `json:"capacity"`
		Transcoders []struct {
			Capacity int `json:"capacity"`
		} `json:"transcoders"`
	}
	if err := json.Unmarshal([]byte(get(t, base+"/api/transcoders")), &ts); err != nil ||
		ts.Capacity != 1 || len(ts.Transcoders) != 1 || ts.Transcoders[0].Capacity != 1 {
		t.Fatalf("/api/transcoders: %+v %v", ts, err)
	}
	testOrchestrator(t, base)
	if in := orchInfo(t, base); in.Free != 1 {
		t.Errorf("the slot was not released: %+v", in)
	}
}

// TestTranscoderWithWrongSecretStops: a refused secret is permanent, so the
// transcoder says so and exits instead of retrying forever.
func TestTranscoderWithWrongSecretStops(t *testing.T) {
	base, _, _ := startOrchestrator(t, "-transcode", "remote", "-secret", "right")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "transcoder", "-http", "127.0.0.1:0", "-orchestrator", base,
		"-secret", "wrong").CombinedOutput()
	if err == nil || ctx.Err() != nil || !regexp.MustCompile(`(?i)secret`).Match(out) {
		t.Fatalf("want a prompt exit naming the secret; got %v:\n%s", err, out)
	}
}
