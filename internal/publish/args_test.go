package publish

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// outputTargets lists each ffmpeg output as "KIND TARGET", e.g. "video
// pipe:3": the kind from the -c:v or -c:a before it. Every output must be
// a pipe, since Prepare writes no files.
func outputTargets(args []string) []string {
	var outs []string
	kind := ""
	for i, a := range args {
		switch {
		case a == "-c:v":
			kind = "video"
		case a == "-c:a":
			kind = "audio"
		case i > 0 && args[i-1] == "-f" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
			outs = append(outs, kind+" "+args[i+1])
		}
	}
	return outs
}

// flagValues returns every value that follows flag in args.
func flagValues(args []string, flag string) []string {
	var vals []string
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			vals = append(vals, args[i+1])
		}
	}
	return vals
}

func withDefaultsT(t *testing.T, c Config) Config {
	t.Helper()
	c, err := c.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPrepareArgs(t *testing.T) {
	both := probeInfo{hasVideo: true, hasAudio: true}
	for _, tc := range []struct {
		name    string
		args    []string
		gop     string // -g and -keyint_min: one IDR per second
		bitrate string
		outputs []string
	}{
		{
			name:    "test pattern with defaults is 720p30 at 2.5 Mbps",
			args:    testPatternArgs(withDefaultsT(t, Config{TestPattern: true})),
			gop:     "30",
			bitrate: "2500000",
			outputs: []string{"video pipe:3", "audio pipe:4"},
		},
		{
			name:    "test pattern honours size rate and bitrate",
			args:    testPatternArgs(withDefaultsT(t, Config{TestPattern: true, Width: 640, Height: 360, FPS: 25, Bitrate: 1_000_000})),
			gop:     "25",
			bitrate: "1000000",
			outputs: []string{"video pipe:3", "audio pipe:4"},
		},
		{
			name:    "file with audio and video",
			args:    fileArgs(withDefaultsT(t, Config{File: "in.mp4"}), both),
			gop:     "30",
			bitrate: "2500000",
			outputs: []string{"video pipe:3", "audio pipe:4"},
		},
		{
			name:    "file with duration reads only that much",
			args:    fileArgs(withDefaultsT(t, Config{File: "in.mkv", Duration: 90 * time.Second, FPS: 60}), both),
			gop:     "60",
			bitrate: "2500000",
			outputs: []string{"video pipe:3", "audio pipe:4"},
		},
		{
			name:    "file without audio writes video only",
			args:    fileArgs(withDefaultsT(t, Config{File: "silent.mp4"}), probeInfo{hasVideo: true}),
			gop:     "30",
			bitrate: "2500000",
			outputs: []string{"video pipe:3"},
		},
		{
			name:    "file without video writes audio only",
			args:    fileArgs(withDefaultsT(t, Config{File: "song.flac"}), probeInfo{hasAudio: true}),
			outputs: []string{"audio pipe:3"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, filepath.Join("args", strings.ReplaceAll(tc.name, " ", "_")+".golden"), strings.Join(tc.args, "\n")+"\n")
			checkArgs(t, tc.args, tc.gop, tc.bitrate, tc.outputs)
		})
	}
}

// checkArgs asserts what the WebRTC path depends on, whatever the golden
// file says.
func checkArgs(t *testing.T, args []string, gop, bitrate string, outputs []string) {
	t.Helper()
	if got := outputTargets(args); !slices.Equal(got, outputs) {
		t.Errorf("outputs %v, want %v", got, outputs)
	}
	if slices.Contains(outputs, "video pipe:3") {
		for flag, want := range map[string]string{
			"-c:v": "libx264", "-profile:v": "baseline", "-bf": "0", "-g": gop, "-keyint_min": gop,
			"-r": gop, "-b:v": bitrate, "-maxrate": bitrate, "-tune": "zerolatency", "-preset": "veryfast",
			"-bsf:v": "h264_mp4toannexb", "-pix_fmt": "yuv420p",
		} {
			if got := flagValues(args, flag); len(got) != 1 || got[0] != want {
				t.Errorf("%s %v, want %s", flag, got, want)
			}
		}
	}
	if slices.Contains(outputs, "audio pipe:4") || slices.Contains(outputs, "audio pipe:3") {
		for flag, want := range map[string]string{
			"-c:a": "libopus", "-ar": "48000", "-ac": "2", "-frame_duration": "20", "-page_duration": "20000",
		} {
			if got := flagValues(args, flag); len(got) != 1 || got[0] != want {
				t.Errorf("%s %v, want %s", flag, got, want)
			}
		}
	}
	if got := flagValues(args, "-progress"); !slices.Equal(got, []string{"pipe:1"}) {
		t.Errorf("-progress %v, want pipe:1 for preparation progress", got)
	}
}

func TestFileArgsLimitInputOnlyWithDuration(t *testing.T) {
	both := probeInfo{hasVideo: true, hasAudio: true}
	whole := fileArgs(withDefaultsT(t, Config{File: "in.mp4"}), both)
	if got := flagValues(whole, "-t"); got != nil {
		t.Errorf("no duration: -t %v, want none", got)
	}
	part := fileArgs(withDefaultsT(t, Config{File: "in.mp4", Duration: 1500 * time.Millisecond}), both)
	if got := flagValues(part, "-t"); !slices.Equal(got, []string{"1.5"}) {
		t.Errorf("duration 1.5 s: -t %v, want [1.5]", got)
	}
	if slices.Index(part, "-t") > slices.Index(part, "-i") {
		t.Errorf("-t must come before -i to limit reading the input: %v", part)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	c := withDefaultsT(t, Config{FFmpeg: "/opt/ff/bin/ffmpeg"})
	if c.Width != 1280 || c.Height != 720 || c.FPS != 30 || c.Bitrate != 2_500_000 || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	if c.FFprobe != "/opt/ff/bin/ffprobe" {
		t.Errorf("FFprobe = %q, want the ffprobe beside a custom ffmpeg", c.FFprobe)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"neither file nor test pattern", Config{}},
		{"both file and test pattern", Config{File: "a.mp4", TestPattern: true}},
	} {
		if err := tc.cfg.checkSource(); err == nil {
			t.Errorf("%s: checkSource accepted it", tc.name)
		}
	}
	if _, err := (Config{FPS: -1}).withDefaults(); err == nil {
		t.Error("negative FPS accepted")
	}
}
