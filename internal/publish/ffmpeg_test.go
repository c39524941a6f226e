package publish

import (
	"strings"
	"testing"
	"time"
)

func TestParseProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want probeInfo
	}{
		{
			name: "video and audio with duration",
			out:  "codec_type=video\ncodec_type=audio\nduration=12.500000\n",
			want: probeInfo{hasVideo: true, hasAudio: true, duration: 12500 * time.Millisecond},
		},
		{name: "video only, duration unknown", out: "codec_type=video\nduration=N/A\n", want: probeInfo{hasVideo: true}},
		{name: "subtitles and data are not media", out: "codec_type=subtitle\ncodec_type=data\ncodec_type=audio\n", want: probeInfo{hasAudio: true}},
		{name: "CRLF line ends", out: "codec_type=audio\r\nduration=1\r\n", want: probeInfo{hasAudio: true, duration: time.Second}},
		{name: "absurd duration ignored", out: "codec_type=video\nduration=-3\n", want: probeInfo{hasVideo: true}},
		{name: "nothing", out: "", want: probeInfo{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseProbe([]byte(tc.out)); got != tc.want {
				t.Errorf("parseProbe(%q) = %+v, want %+v", tc.out, got, tc.want)
			}
		})
	}
}

func FuzzParseProbe(f *testing.F) {
	f.Add([]byte("codec_type=video\ncodec_type=audio\nduration=12.5\n"))
	f.Add([]byte("duration=N/A\n"))
	f.Add([]byte("duration=1e300\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		info := parseProbe(out)
		if info.duration < 0 {
			t.Fatalf("negative duration %v", info.duration)
		}
		if info.hasVideo && !strings.Contains(string(out), "video") {
			t.Fatalf("video found in %q", out)
		}
	})
}

// ffmpeg 5.1's -progress output, trimmed: two blocks.
const progressOutput = `frame=150
fps=149.50
bitrate=N/A
out_time_us=N/A
out_time_ms=N/A
out_time=N/A
speed=N/A
progress=continue
frame=300
out_time_us=10013500
out_time_ms=10013500
out_time=00:00:10.013500
speed=19.7x
progress=end
`

func TestScanProgressReportsEachBlock(t *testing.T) {
	var got []ffmpegProgress
	if err := scanProgress(strings.NewReader(progressOutput), func(p ffmpegProgress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	want := []ffmpegProgress{{}, {outTime: 10013500 * time.Microsecond, speed: "19.7x", end: true}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("scanProgress = %+v, want %+v", got, want)
	}
}

func TestProgressLines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     ffmpegProgress
		total time.Duration
		want  string
	}{
		{"with known total", ffmpegProgress{outTime: 12 * time.Second, speed: "5.1x"}, 90 * time.Second, "preparing 00:12 / 01:30  13%  speed 5.1x"},
		{"total unknown", ffmpegProgress{outTime: 75 * time.Second}, 0, "preparing 01:15"},
		{"past a guessed total", ffmpegProgress{outTime: 95 * time.Second}, 90 * time.Second, "preparing 01:35 / 01:30  100%"},
		{"finished", ffmpegProgress{outTime: 3725 * time.Second, end: true}, 0, "prepared 1:02:05"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.line(tc.total); got != tc.want {
				t.Errorf("line = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzScanProgress(f *testing.F) {
	f.Add(progressOutput)
	f.Add("out_time_us=-5\nprogress=continue\n")
	f.Add("out_time_ms=99999999999999999999\nspeed= 2x \nprogress=end")
	f.Fuzz(func(t *testing.T, out string) {
		blocks := 0
		err := scanProgress(strings.NewReader(out), func(p ffmpegProgress) {
			blocks++
			if p.outTime < 0 {
				t.Fatalf("negative out time %v", p.outTime)
			}
			_ = p.line(time.Minute)
		})
		if err != nil {
			t.Fatalf("scanProgress: %v", err)
		}
		if blocks > strings.Count(out, "progress=") {
			t.Fatalf("%d blocks from %d progress lines", blocks, strings.Count(out, "progress="))
		}
	})
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                      "00:00",
		-time.Second:           "00:00",
		12*time.Second + 900e6: "00:12",
		59*time.Minute + 59e9:  "59:59",
		time.Hour:              "1:00:00",
		100*time.Hour + 61e9:   "100:01:01",
	} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTailWriterKeepsTheEnd(t *testing.T) {
	w := &tailWriter{max: 10}
	w.Write([]byte("first line\n"))
	w.Write([]byte("error: X\n"))
	if got := w.String(); got != "error: X" {
		t.Errorf("tail = %q, want %q", got, "error: X")
	}
}

func TestSiblingTool(t *testing.T) {
	for in, want := range map[string]string{
		"ffmpeg":                 "ffprobe",
		"/opt/ffmpeg/bin/ffmpeg": "/opt/ffmpeg/bin/ffprobe",
		"./ffmpeg":               "./ffprobe",
		"bin/ffmpeg":             "bin/ffprobe",
	} {
		if got := siblingTool(in, "ffprobe"); got != want {
			t.Errorf("siblingTool(%q) = %q, want %q", in, got, want)
		}
	}
}
