package netpool

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/transcode"
)

func TestCheckMedia(t *testing.T) {
	src := makeTS(srcStart, srcFrames, srcFPS) // 2 s from 10 s
	long := makeTS(srcStart, 100, srcFPS)      // 10 s
	nearWrap := ptsWrap - time.Second          // crosses the 33-bit wrap
	aligned := func(b []byte, frac float64) []byte {
		n := int(float64(len(b)/mpegts.PacketSize)*frac) * mpegts.PacketSize
		return b[:n]
	}
	tests := []struct {
		name    string
		src     []byte // nil: no source to compare with
		out     []byte
		wantErr string // "" for none
	}{
		{"the same timing passes", src, src, ""},
		{"another frame rate over the same span passes", src, makeTS(srcStart, 2*srcFrames, 2*srcFPS), ""},
		{"a start 50 ms off passes", src, makeTS(srcStart+50*time.Millisecond, srcFrames, srcFPS), ""},
		{"a start 200 ms off fails", src, makeTS(srcStart+200*time.Millisecond, srcFrames, srcFPS), "starts at PTS"},
		{"200 ms short passes", src, makeTS(srcStart, srcFrames-2, srcFPS), ""},
		{"half the span fails", src, makeTS(srcStart, srcFrames/2, srcFPS), "lasts 1s, the source 2s"},
		{"a 10 s source allows 10 %", long, makeTS(srcStart, 92, srcFPS), ""},
		{"but not 15 %", long, makeTS(srcStart, 85, srcFPS), "lasts"},
		{"garbage fails", src, bytes.Repeat([]byte{0x47, 1, 2, 3}, 200), "does not demux"},
		{"a cut inside a packet fails", src, src[:len(src)/2+7], "does not demux"},
		{"a cut between packets fails on duration", src, aligned(src, 0.5), "lasts"},
		{"tables without video fail", src, makeTS(srcStart, 0, srcFPS), "no video frame"},
		{"empty output fails", src, nil, "no video frame"},
		{"timestamps across the wrap pass", makeTS(nearWrap, srcFrames, srcFPS), makeTS(nearWrap, srcFrames, srcFPS), ""},
		{"a start 50 ms off across the wrap passes", makeTS(ptsWrap-20*time.Millisecond, srcFrames, srcFPS), makeTS(ptsWrap+30*time.Millisecond, srcFrames, srcFPS), ""},
		{"across the wrap, a shift still fails", makeTS(nearWrap, srcFrames, srcFPS), makeTS(nearWrap+time.Second, srcFrames, srcFPS), "starts at PTS"},
		{"without a source, sound output passes", nil, makeTS(0, 3, srcFPS), ""},
		{"without a source, garbage still fails", nil, []byte("garbage"), "does not demux"},
		{"a source without video checks only soundness", makeTS(0, 0, 1), makeTS(0, 3, srcFPS), ""},
		{"frames sent twice over fail", src, repeatVideo(2, 1280, 720), "20 of its 40 frames repeat a timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sp *videoSpan
			if tt.src != nil {
				v, err := readVideoSpan(bytes.NewReader(tt.src), false)
				if err != nil {
					t.Fatal(err)
				}
				sp = &v
			}
			err := checkMedia(segJob("a", 1), []transcode.Rendition{{Profile: transcode.SourceProfile(), Data: tt.out}}, sp)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestSpanOf(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name       string
		first      time.Duration
		rel        []time.Duration
		wantFirst  time.Duration
		wantSpan   time.Duration
		wantFrames int
	}{
		{"no frames", 0, nil, 0, 0, 0},
		{"one frame has no frame estimate", time.Second, ms(0), time.Second, 0, 1},
		{"in order", time.Second, ms(0, 100, 200), time.Second, 300 * time.Millisecond, 3},
		{"B-frames out of order", time.Second, ms(0, 200, 100, 400, 300), time.Second, 500 * time.Millisecond, 5},
		{"a frame before the first seen", time.Second, ms(0, -100, 100), 900 * time.Millisecond, 300 * time.Millisecond, 3},
		{"the smallest gap is the frame", 0, ms(0, 40, 80, 200), 0, 240 * time.Millisecond, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := spanOf(tt.first, tt.rel)
			if got.first != tt.wantFirst || got.span != tt.wantSpan || got.frames != tt.wantFrames {
				t.Errorf("got %+v, want first %v span %v frames %d", got, tt.wantFirst, tt.wantSpan, tt.wantFrames)
			}
		})
	}
}

func TestCheckOutput(t *testing.T) {
	job := segJob("a", 1) // source 1280x720 and 360p (640x360)
	src, r360 := job.Profiles[0], job.Profiles[1]
	good := func() []transcode.Rendition {
		return []transcode.Rendition{{Profile: src, Width: 1280, Height: 720, Data: []byte{1}},
			{Profile: r360, Width: 640, Height: 360, Data: []byte{1}}}
	}
	tests := []struct {
		name    string
		edit    func([]transcode.Rendition) []transcode.Rendition
		wantErr string
	}{
		{"what was asked passes", func(r []transcode.Rendition) []transcode.Rendition { return r }, ""},
		{"any order passes", func(r []transcode.Rendition) []transcode.Rendition { return []transcode.Rendition{r[1], r[0]} }, ""},
		{"a missing rendition fails", func(r []transcode.Rendition) []transcode.Rendition { return r[:1] }, "360p missing"},
		{"a repeated one fails", func(r []transcode.Rendition) []transcode.Rendition { return append(r, r[1]) }, "unrequested or repeated"},
		{"a wrong size fails", func(r []transcode.Rendition) []transcode.Rendition { r[1].Width = 642; return r }, "want 640x360"},
		{"empty data fails", func(r []transcode.Rendition) []transcode.Rendition { r[0].Data = nil; return r }, "0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOutput(job, tt.edit(good()))
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestCheckMediaPassesRealRenditions guards against rejecting good work:
// ffmpeg's own renditions of a real segment, with audio and a frame rate
// change, must pass.
func TestCheckMediaPassesRealRenditions(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	in := filepath.Join(t.TempDir(), "in.ts")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "60", "-pix_fmt", "yuv420p",
		"-c:a", "libopus", "-output_ts_offset", "30", "-f", "mpegts", in).CombinedOutput()
	if err != nil {
		t.Fatalf("making the segment: %v\n%s", err, out)
	}
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	job := transcode.Job{Stream: "a", Seq: 1, Input: bytes.NewReader(data), SourceWidth: 320, SourceHeight: 240,
		Profiles: transcode.Ladder([]transcode.Profile{{Name: "120p", Width: 160, Height: 120, Bitrate: 100_000, FPS: 15}}, 320, 240)}
	rends, err := ff.Transcode(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	src, err := readVideoSpan(bytes.NewReader(data), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkOutput(job, rends); err != nil {
		t.Error(err)
	}
	if err := checkMedia(job, rends, &src); err != nil {
		t.Errorf("real renditions rejected: %v (source %+v)", err, src)
	}
	for _, r := range rends {
		got, _ := readVideoSpan(bytes.NewReader(r.Data), true)
		t.Logf("%s: %+v (source %+v)", r.Profile.Name, got, src)
	}
}

func BenchmarkCheckMedia(b *testing.B) {
	src := makeTS(srcStart, 60, 30)
	sp, _ := readVideoSpan(bytes.NewReader(src), false)
	rends := []transcode.Rendition{{Profile: transcode.SourceProfile(), Data: src}, {Profile: transcode.SourceProfile(), Data: src}}
	for b.Loop() {
		if err := checkMedia(transcode.Job{}, rends, &sp); err != nil {
			b.Fatal(err)
		}
	}
}
