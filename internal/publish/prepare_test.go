package publish

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPreparedTestPatternHasIDREverySecondAndLoopsEvenly(t *testing.T) {
	m := prepareSmall(t)
	if !m.loop {
		t.Error("test pattern media does not loop")
	}
	v := m.video
	if len(v.frames) != 300 || v.rate != 30 {
		t.Fatalf("video: %d frames at %d fps, want 300 at 30 (10 s)", len(v.frames), v.rate)
	}
	for i, f := range v.frames {
		if f.key != (i%30 == 0) {
			t.Errorf("frame %d: key %v; want an IDR exactly every 30 frames", i, f.key)
		}
		// An IDR travels with its parameter sets: SPS (7) then PPS (8).
		if f.key && !bytes.HasPrefix(f.data, []byte{0, 0, 0, 1, 0x67}) || f.key && !bytes.Contains(f.data, []byte{0, 0, 0, 1, 0x68}) {
			t.Errorf("IDR frame %d does not carry SPS and PPS: % x", i, f.data[:min(8, len(f.data))])
		}
	}
	a := m.audio
	loop := mediaTime(a.total, a.rate)
	if loop > 10*time.Second || loop < 9900*time.Millisecond {
		t.Errorf("audio lasts %v per loop, want just under or at the video's 10 s", loop)
	}
	for i, f := range a.frames {
		if f.ticks != 960 {
			t.Fatalf("audio packet %d lasts %d samples, want 960 (20 ms)", i, f.ticks)
		}
	}
}

// makeInput encodes a short file with ffmpeg for Prepare to read.
func makeInput(t *testing.T, name string, withAudio bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=3"}
	if withAudio {
		args = append(args, "-f", "lavfi", "-i", "sine=duration=3", "-c:a", "aac")
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", "-y", path)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("making %s: %v\n%s", name, err, out)
	}
	return path
}

func TestPrepareFileHonoursDurationAndReportsProgress(t *testing.T) {
	needFFmpeg(t)
	var progress bytes.Buffer
	cfg := Config{File: makeInput(t, "in.mp4", true), Duration: 2 * time.Second, Width: 999, Progress: &progress}
	m, err := Prepare(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The 25 fps input comes out at the default 30 fps, cut to 2 s.
	if m.loop || len(m.video.frames) != 60 || m.audio == nil {
		t.Errorf("file media: loop %v, %d video frames, audio %v; want no loop, 60 frames, audio", m.loop, len(m.video.frames), m.audio != nil)
	}
	if a := mediaTime(m.audio.total, m.audio.rate); a < 1900*time.Millisecond || a > 2100*time.Millisecond {
		t.Errorf("audio lasts %v, want about 2 s", a)
	}
	if !strings.Contains(progress.String(), "prepared 00:02") {
		t.Errorf("preparation progress %q lacks the final %q", progress.String(), "prepared 00:02")
	}
}

func TestPublishVideoOnlyFileEndsWithTheFile(t *testing.T) {
	needFFmpeg(t)
	m, err := Prepare(t.Context(), Config{File: makeInput(t, "silent.mkv", false), FPS: 25})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.audio != nil {
		t.Fatal("a file without audio got an audio track")
	}
	srv := newWHIPServer(t)
	st, err := Publish(t.Context(), Config{URL: srv.url("cam")}, m)
	if err != nil {
		t.Fatal(err)
	}
	if st.VideoFrames != 75 || st.AudioFrames != 0 {
		t.Errorf("sent %d video, %d audio frames; want the file's 75 and none", st.VideoFrames, st.AudioFrames)
	}
	if srv.videoRTP.Load() == 0 || srv.audioRTP.Load() != 0 || srv.deletes.Load() != 1 {
		t.Errorf("server: %v; want video only and one DELETE", srv)
	}
}

func TestPrepareFailures(t *testing.T) {
	needFFmpeg(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
		text string // in the error message
	}{
		{"missing file quotes the tool's stderr", Config{File: "/nonexistent/in.mp4"}, ErrFFmpeg, "No such file"},
		{"missing ffmpeg", Config{TestPattern: true, FFmpeg: "/nonexistent/ffmpeg"}, ErrFFmpeg, "/nonexistent/ffmpeg"},
		{"no source", Config{}, ErrConfig, "exactly one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Prepare(t.Context(), tc.cfg)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Prepare = %v, want %v mentioning %q", err, tc.want, tc.text)
			}
			if m != nil {
				t.Error("a failed Prepare returned media")
			}
		})
	}
}

func TestPrepareWritesNoFiles(t *testing.T) {
	needFFmpeg(t)
	input := makeInput(t, "in.mp4", true)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Chdir(t.TempDir())
	for _, cfg := range []Config{
		{TestPattern: true, Width: 160, Height: 120},
		{File: input},
		switchingPattern(""),
	} {
		m, err := Prepare(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if m.video == nil || m.audio == nil {
			t.Errorf("%+v: prepared video %v, audio %v; want both", cfg, m.video != nil, m.audio != nil)
		}
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	for _, dir := range []string{tmp, "."} {
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("Prepare left %d entries in %s, e.g. %s: it should stream ffmpeg's output through pipes", len(left), dir, left[0].Name())
		}
	}
}

func TestReaderOverTheBudgetStopsFFmpeg(t *testing.T) {
	needFFmpeg(t)
	// An endless encode into pipe 3, read by a reader that gives up.
	args := append(commonArgs(), "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30")
	args = append(args, videoOutArgs(withDefaultsT(t, Config{}), "0:v:0", pipeTarget(0))...)
	budget := newByteBudget(10_000)
	start := time.Now()
	err := runTool(t.Context(), "ffmpeg", args, func(r io.Reader) error { return scanProgress(r, nil) },
		func(r io.Reader) error {
			_, err := readVideo(budget.wrap(r), 30)
			return cmp.Or(budget.err(), err)
		})
	if !errors.Is(err, ErrMediaTooLarge) || !strings.Contains(err.Error(), "more than 10000 bytes") {
		t.Errorf("runTool = %v, want ErrMediaTooLarge naming the budget", err)
	}
	if d := time.Since(start); d > 2*stopDelay {
		t.Errorf("an endless encode took %v to stop once its reader failed", d)
	}
}
