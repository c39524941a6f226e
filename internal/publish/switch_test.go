package publish

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
)

func TestParseSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Size // nil: an error
	}{
		{"1280x720", []Size{{1280, 720}}},
		{"1280x720,640x360,1280x720", []Size{{1280, 720}, {640, 360}, {1280, 720}}},
		{" 640x360 , 320x180", []Size{{640, 360}, {320, 180}}},
		{"", nil},
		{"1280", nil},
		{"1280x", nil},
		{"x720", nil},
		{"1280x720,", nil},
		{"1281x720", nil},     // odd: 4:2:0 needs even sides
		{"0x720", nil},        // empty picture
		{"-640x360", nil},     // negative
		{"16384x720", nil},    // beyond any H.264 level
		{"1280X720", nil},     // the separator is a lower-case x
		{"1e3x720", nil},      // whole numbers only
		{"640x360x2", nil},    // one x
		{"640 x 360", nil},    // no spaces inside a size
		{"1280x720;640", nil}, // commas separate sizes
	} {
		got, err := ParseSizes(tc.in)
		if tc.want == nil {
			if !errors.Is(err, ErrConfig) {
				t.Errorf("ParseSizes(%q) = %v, %v; want an ErrConfig", tc.in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSizes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestSwitchStepKeepsSwitchesBetweenVideoFramesAndAudioPackets(t *testing.T) {
	for fps, want := range map[int]time.Duration{
		30: 100 * time.Millisecond, 60: 100 * time.Millisecond, 25: 40 * time.Millisecond,
		50: 20 * time.Millisecond, 24: 500 * time.Millisecond, 29: time.Second,
	} {
		if got := switchStep(fps); got != want {
			t.Errorf("switchStep(%d) = %v, want %v", fps, got, want)
		}
	}
}

func TestSizesConfigValidation(t *testing.T) {
	two := []Size{{1280, 720}, {640, 360}}
	for _, tc := range []struct {
		name string
		cfg  Config
		text string // in the error, "" for none
	}{
		{"two sizes switch every 4 s by default", Config{TestPattern: true, Sizes: two}, ""},
		{"a tenth of a second at 30 fps", Config{TestPattern: true, Sizes: two, SwitchEvery: 2100 * time.Millisecond}, ""},
		{"one size needs no interval", Config{TestPattern: true, Sizes: two[:1], SwitchEvery: 3 * time.Millisecond}, ""},
		{"a file cannot switch", Config{File: "in.mp4", Sizes: two}, "needs the test pattern"},
		{"part of a frame", Config{TestPattern: true, Sizes: two, SwitchEvery: 2150 * time.Millisecond}, "multiple of 100ms at 30 fps"},
		{"odd size", Config{TestPattern: true, Sizes: []Size{{1280, 720}, {641, 360}}}, "size 641x360"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := withDefaultsT(t, tc.cfg).checkSizes()
			if tc.text == "" && err != nil || tc.text != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.text)) {
				t.Errorf("checkSizes = %v, want %q", err, tc.text)
			}
		})
	}
	if _, err := (Config{SwitchEvery: -time.Second}).withDefaults(); err == nil {
		t.Error("negative SwitchEvery accepted")
	}
	one := withDefaultsT(t, Config{TestPattern: true, Sizes: []Size{{640, 360}}})
	if one.switching() || one.Width != 640 || one.Height != 360 {
		t.Errorf("a single size: switching %v, %dx%d; want a plain 640x360 pattern", one.switching(), one.Width, one.Height)
	}
	if c := withDefaultsT(t, Config{TestPattern: true, Sizes: two}); c.SwitchEvery != DefaultSwitchEvery {
		t.Errorf("SwitchEvery defaults to %v, want %v", c.SwitchEvery, DefaultSwitchEvery)
	}
}

func TestSwitchingArgsEncodeOnePiecePerSizeFromOnePicture(t *testing.T) {
	cfg := withDefaultsT(t, Config{TestPattern: true, Sizes: []Size{{1280, 720}, {640, 360}, {1280, 720}}})
	args := switchingArgs(cfg)
	golden(t, filepath.Join("args", "switching_test_pattern_720p_360p_720p.golden"), strings.Join(args, "\n")+"\n")

	outputs := []string{"video pipe:3", "video pipe:4", "video pipe:5", "audio pipe:6"}
	if got := outputTargets(args); !slices.Equal(got, outputs) {
		t.Errorf("outputs %v, want %v", got, outputs)
	}
	// 360p has a quarter of 720p's pixels, and gets a quarter of its bits.
	for flag, want := range map[string][]string{
		"-map":   {"[v0]", "[v1]", "[v2]", "1:a:0"},
		"-b:v":   {"2500000", "625000", "2500000"},
		"-g":     {"30", "30", "30"},
		"-c:v":   {"libx264", "libx264", "libx264"},
		"-c:a":   {"libopus"},
		"-bsf:v": {"h264_mp4toannexb", "h264_mp4toannexb", "h264_mp4toannexb"},
	} {
		if got := flagValues(args, flag); !slices.Equal(got, want) {
			t.Errorf("%s %v, want %v", flag, got, want)
		}
	}
	wantFilter := "[0:v]split=3[s0][s1][s2]" +
		";[s0]trim=start_frame=0:end_frame=120,setpts=PTS-STARTPTS,scale=1280:720[v0]" +
		";[s1]trim=start_frame=120:end_frame=240,setpts=PTS-STARTPTS,scale=640:360[v1]" +
		";[s2]trim=start_frame=240:end_frame=360,setpts=PTS-STARTPTS,scale=1280:720[v2]"
	if got := flagValues(args, "-filter_complex"); !slices.Equal(got, []string{wantFilter}) {
		t.Errorf("-filter_complex %v\nwant %s", got, wantFilter)
	}
	for _, in := range []string{"testsrc2=size=1280x720:rate=30:duration=12", "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=12"} {
		if !slices.Contains(flagValues(args, "-i"), in) {
			t.Errorf("inputs %v lack %s: picture and tone must last the whole 12 s cycle", flagValues(args, "-i"), in)
		}
	}
}

func TestScaledBitrateHasAFloor(t *testing.T) {
	top := Size{1920, 1080}
	for _, tc := range []struct {
		bitrate int
		s       Size
		want    int
	}{
		{4_000_000, top, 4_000_000},
		{4_000_000, Size{960, 540}, 1_000_000},
		{4_000_000, Size{160, 90}, 30_000}, // 1/144 would be 27 kb/s
		{20_000, Size{160, 90}, 20_000},    // never above what was asked
	} {
		if got := scaledBitrate(tc.bitrate, tc.s, top); got != tc.want {
			t.Errorf("scaledBitrate(%d, %v) = %d, want %d", tc.bitrate, tc.s, got, tc.want)
		}
	}
}

// switchingPattern is a small 240p → 120p → 240p pattern, a second each.
func switchingPattern(url string) Config {
	cfg := smallPattern(url)
	cfg.Sizes = []Size{{320, 240}, {160, 120}, {320, 240}}
	cfg.SwitchEvery = time.Second
	return cfg
}

// spsSize returns the picture size of the SPS in an Annex B access unit.
func spsSize(t *testing.T, nalus [][]byte) (Size, bool) {
	t.Helper()
	for _, nal := range nalus {
		if media.NALUType(nal) != 7 {
			continue
		}
		info, err := media.ParseSPS(nal)
		if err != nil {
			t.Fatalf("SPS: %v", err)
		}
		return Size{info.Width, info.Height}, true
	}
	return Size{}, false
}

func TestSwitchingPatternSplicesEachSizeAtAnIDRWithContinuousTime(t *testing.T) {
	needFFmpeg(t)
	m, err := Prepare(t.Context(), switchingPattern(""))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.video.frames) != 90 || !m.loop {
		t.Fatalf("video: %d frames, loop %v; want the 3 s cycle's 90, looping", len(m.video.frames), m.loop)
	}
	if a := mediaTime(m.audio.total, m.audio.rate); a < 2900*time.Millisecond || a > 3*time.Second {
		t.Errorf("audio lasts %v per loop, want just under or at the 3 s cycle", a)
	}

	// Two loops as the pacer hands them to the track: a new SPS with every
	// IDR (one a second), the size changing on the second, and every frame
	// 1/30 s after the last, across splices and the loop point alike.
	rec := &recorder{mu: &sync.Mutex{}, log: new([]string), kind: "v"}
	tr := &pacedTrack{data: m.video, w: rec}
	for range 180 {
		if err := tr.write(true); err != nil {
			t.Fatal(err)
		}
	}
	want := []Size{{320, 240}, {160, 120}, {320, 240}, {320, 240}, {160, 120}, {320, 240}}
	var at time.Duration
	for i, s := range rec.samples {
		if at != mediaTime(int64(i), 30) {
			t.Fatalf("frame %d starts at %v, want %v", i, at, mediaTime(int64(i), 30))
		}
		at += s.Duration
		size, ok := spsSize(t, media.SplitAnnexB(s.Data))
		if ok != (i%30 == 0) || ok && size != want[i/30] {
			t.Errorf("frame %d: SPS %v (%v), want one of %v exactly on each second", i, ok, size, want[i/30])
		}
		if key := m.video.frames[i%90].key; key != (i%30 == 0) {
			t.Errorf("frame %d: IDR %v, want one exactly on each second", i, key)
		}
	}
	if at != 6*time.Second {
		t.Errorf("two loops last %v, want 6s", at)
	}
}
