package transcode

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Test media: a short 1280x720 30 fps H.264 stream, as a browser would send
// it (no B-frames), with optional Opus audio, muxed as MPEG-TS.
const (
	testW, testH  = 1280, 720
	testFPS       = 30
	testSeconds   = 2
	testFrameSecs = 1.0 / testFPS
)

// needFFmpeg skips the test when ffmpeg or ffprobe is not installed.
func needFFmpeg(tb testing.TB) {
	tb.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Skipf("%s not installed (apt-get install ffmpeg): %v", bin, err)
		}
	}
}

// makeInput writes the test segment into dir and returns its path.
func makeInput(tb testing.TB, dir string, audio bool) string {
	tb.Helper()
	path := filepath.Join(dir, "input.ts")
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=" + strconv.Itoa(testW) + "x" + strconv.Itoa(testH) + ":rate=" + strconv.Itoa(testFPS)}
	if audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
	}
	args = append(args, "-t", strconv.Itoa(testSeconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "60", "-pix_fmt", "yuv420p")
	if audio {
		args = append(args, "-c:a", "libopus", "-b:a", "64k")
	}
	args = append(args, "-f", "mpegts", path)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		tb.Fatalf("making test input: %v\n%s", err, out)
	}
	return path
}

// probed is what the tests read back from ffprobe.
type probed struct {
	Streams []stream `json:"streams"`
}

type stream struct {
	CodecType  string `json:"codec_type"`
	CodecName  string `json:"codec_name"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	SampleRate string `json:"sample_rate"`
	Channels   int    `json:"channels"`
	StartTime  string `json:"start_time"`
	Duration   string `json:"duration"`
}

// probe runs ffprobe on an in-memory MPEG-TS segment. It goes through a
// file because ffprobe reports no durations for a pipe.
func probe(tb testing.TB, data []byte) probed {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "probe.ts")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_entries",
		"stream=codec_type,codec_name,width,height,sample_rate,channels,start_time,duration", path).Output()
	if err != nil {
		tb.Fatalf("ffprobe: %v", err)
	}
	var p probed
	if err := json.Unmarshal(out, &p); err != nil {
		tb.Fatalf("ffprobe output: %v", err)
	}
	return p
}

// streamOf returns the first stream of kind ("video", "audio"), or nil.
func (p probed) streamOf(kind string) *stream {
	for i := range p.Streams {
		if p.Streams[i].CodecType == kind {
			return &p.Streams[i]
		}
	}
	return nil
}

// keyframes returns the indexes of the key video packets in data.
func keyframes(tb testing.TB, data []byte) []int {
	tb.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=flags", "-of", "csv=p=0", "-i", "pipe:0")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("ffprobe packets: %v", err)
	}
	var keys []int
	for i, flags := range strings.Fields(string(out)) {
		if strings.HasPrefix(flags, "K") {
			keys = append(keys, i)
		}
	}
	return keys
}

func seconds(tb testing.TB, s string) float64 {
	tb.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		tb.Fatalf("not seconds: %q", s)
	}
	return f
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// newTestFFmpeg builds an FFmpeg whose jobs live in their own temp dir and
// log to the test, and closes it when the test ends.
func newTestFFmpeg(tb testing.TB) (*FFmpeg, string) {
	tb.Helper()
	tmp := tb.TempDir()
	f, err := NewFFmpeg(FFmpegConfig{
		TempDir: tmp,
		Logger:  slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f, tmp
}

// dirEntries lists what is left in dir.
func dirEntries(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// stallingReader serves a segment's first bytes, then blocks in Read like a
// publisher that stopped mid-segment, until released. Blocked is closed
// once a Read is blocked.
type stallingReader struct {
	data    []byte
	blocked chan struct{}
	release chan error
	once    sync.Once
}

func newStallingReader(data []byte) *stallingReader {
	return &stallingReader{data: data, blocked: make(chan struct{}), release: make(chan error, 1)}
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	r.once.Do(func() { close(r.blocked) })
	err := <-r.release
	r.release <- err // later Reads fail the same way
	return 0, err
}

// Release makes the blocked Read (and every later one) return err.
func (r *stallingReader) Release(err error) {
	select {
	case r.release <- err:
	default:
	}
}

// closingStall is a stallingReader whose Close releases it, as io.Pipe's
// reader does.
type closingStall struct{ *stallingReader }

func (c closingStall) Close() error { c.Release(io.ErrClosedPipe); return nil }
