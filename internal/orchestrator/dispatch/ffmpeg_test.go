package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// needFFmpeg skips the test when ffmpeg or ffprobe is not installed.
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (apt-get install ffmpeg): %v", bin, err)
		}
	}
}

// makeSegment writes one second of 320x240 H.264 + Opus as MPEG-TS, as a
// browser would publish it (no B-frames), and returns its bytes.
func makeSegment(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.ts")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-pix_fmt", "yuv420p",
		"-c:a", "libopus", "-f", "mpegts", path).CombinedOutput()
	if err != nil {
		t.Fatalf("making the test segment: %v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// newFFmpeg builds the real local transcoder a node runs.
func newFFmpeg(t *testing.T) *transcode.FFmpeg {
	t.Helper()
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{TempDir: t.TempDir(), Logger: testLogger(t).With("node", "ffmpeg")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ff.Close() })
	return ff
}

// TestEndToEndRealFFmpeg: a pool with one real transcoder node running the
// real ffmpeg turns a real segment into the source plus one rung.
func TestEndToEndRealFFmpeg(t *testing.T) {
	needFFmpeg(t)
	data := makeSegment(t)
	p, srv := newPool(t, dispatch.Config{})
	n := startNode(t, p, srv, newFFmpeg(t), 1)

	rends, err := p.Transcode(context.Background(), job(11, bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		w, h int
	}{{"source", 320, 240}, {"120p", 160, 120}}
	if len(rends) != len(want) {
		t.Fatalf("%d renditions, want %d", len(rends), len(want))
	}
	for i, w := range want {
		r := rends[i]
		if r.Profile.Name != w.name || r.Width != w.w || r.Height != w.h || len(r.Data) < 188 || r.Data[0] != 0x47 {
			t.Fatalf("rendition %d: %s %dx%d, %d bytes", i, r.Profile.Name, r.Width, r.Height, len(r.Data))
		}
		if gw, gh := probeSize(t, r.Data); gw != w.w || gh != w.h {
			t.Fatalf("%s: ffprobe says %dx%d, want %dx%d", w.name, gw, gh, w.w, w.h)
		}
	}
	if p.Free() != 1 || p.Capacity() != 1 {
		t.Fatalf("free %d of %d, want 1 of 1", p.Free(), p.Capacity())
	}
	waitFor(t, "the node to count the job", func() bool {
		st := n.Status()
		return st.JobsDone == 1 && st.Busy == 0 && st.Connected
	})
}

// TestGarbageInputIsUnprocessable: real ffmpeg on a segment that is not
// media fails the job with 422, and the node stays in the pool.
func TestGarbageInputIsUnprocessable(t *testing.T) {
	needFFmpeg(t)
	p, srv := newPool(t, dispatch.Config{})
	n := startNode(t, p, srv, newFFmpeg(t), 1)
	_, err := p.Transcode(context.Background(), job(12, bytes.NewReader(bytes.Repeat([]byte("garbage!"), 1000))))
	if httpx.StatusOf(err) != http.StatusUnprocessableEntity || !errors.Is(err, remote.ErrTranscode) {
		t.Fatalf("err %v (status %d), want 422", err, httpx.StatusOf(err))
	}
	if p.Free() != 1 || p.Capacity() != 1 {
		t.Fatalf("free %d of %d, want 1 of 1", p.Free(), p.Capacity())
	}
	waitFor(t, "the node to count the failure", func() bool { return n.Status().JobsFailed == 1 && n.Status().JobsDone == 0 })
}

// probeSize returns the video size ffprobe reads from an MPEG-TS segment.
func probeSize(t *testing.T, data []byte) (int, int) {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
		"-of", "json", "-i", "pipe:0")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var v struct {
		Streams []struct{ Width, Height int }
	}
	if err := json.Unmarshal(out, &v); err != nil || len(v.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	return v.Streams[0].Width, v.Streams[0].Height
}
