package hls

import (
	"bufio"
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goldenSession stores nine segments of the ladder. 240p has no segment of
// its own for 2 and 5, 360p none for 5; segment 3 lasts 2.4 s.
func goldenSession(t *testing.T) (*Stream, string) {
	t.Helper()
	s, _ := newTestStore(t, nil)
	st, err := s.Open("golden", ladder)
	if err != nil {
		t.Fatal(err)
	}
	durations := []time.Duration{2000, 2002, 1968, 2400, 2000, 2000, 1999, 2001, 2000}
	for seq, ms := range durations {
		names := []string{"source", "360p", "240p"}
		switch seq {
		case 2:
			names = []string{"source", "360p"}
		case 5:
			names = []string{"source"}
		}
		mustAdd(t, st, uint64(seq), ms*time.Millisecond, parts(uint64(seq), names...))
	}
	return st, st.dir
}

func TestPlaylistsMatchGoldenFiles(t *testing.T) {
	st, dir := goldenSession(t)
	// The source lists the last six segments; nothing of its own is
	// missing, so it has no discontinuity.
	golden(t, "live_window.m3u8", readFile(t, filepath.Join(dir, "source", "index.m3u8")))
	// 240p plays the source's 2 and 5; the tag before 2 slid out of the
	// window, so the discontinuity sequence is 1.
	golden(t, "sliding_discontinuity.m3u8", readFile(t, filepath.Join(dir, "240p", "index.m3u8")))
	golden(t, "multivariant.m3u8", readFile(t, filepath.Join(dir, "index.m3u8")))
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	golden(t, "ended_vod.m3u8", readFile(t, filepath.Join(dir, "240p", "index.m3u8")))
	if got := st.Stats().Substitutions; got != 3 {
		t.Errorf("substitutions = %d, want 3 (240p twice, 360p once)", got)
	}
}

// mediaLines parses what the tests check of a media playlist.
type mediaLines struct {
	target   int
	extinf   []float64
	uris     []string
	mediaSeq uint64
	discSeq  uint64
	ended    bool
}

func parseMedia(t *testing.T, p []byte) mediaLines {
	t.Helper()
	var m mediaLines
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		line := sc.Text()
		tag, val, _ := strings.Cut(line, ":")
		var err error
		switch tag {
		case "#EXT-X-TARGETDURATION":
			m.target, err = strconv.Atoi(val)
		case "#EXT-X-MEDIA-SEQUENCE":
			m.mediaSeq, err = strconv.ParseUint(val, 10, 64)
		case "#EXT-X-DISCONTINUITY-SEQUENCE":
			m.discSeq, err = strconv.ParseUint(val, 10, 64)
		case "#EXTINF":
			var f float64
			f, err = strconv.ParseFloat(strings.TrimSuffix(val, ","), 64)
			m.extinf = append(m.extinf, f)
		case "#EXT-X-ENDLIST":
			m.ended = true
		default:
			if line != "" && !strings.HasPrefix(line, "#") {
				m.uris = append(m.uris, line)
			}
		}
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
	}
	return m
}

func TestTargetDuration(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name      string
		durations []time.Duration
		want      int
		raises    uint64
	}{
		{"whole seconds are kept", ms(2000, 2000), 2, 0},
		{"first segment is rounded up", ms(2002, 2000), 3, 0},
		{"a short first segment still gives one second", ms(400), 1, 0},
		{"a longer segment that rounds down to the target keeps it", ms(2000, 2400), 2, 0},
		{"a segment that rounds above the target raises it, rounded up", ms(2000, 3600), 4, 1},
		{"the target never decreases once the long segment slid out", ms(2000, 3600, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000), 4, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t, nil)
			st, err := s.Open("td", nil)
			if err != nil {
				t.Fatal(err)
			}
			last := 0
			for i, d := range tt.durations {
				mustAdd(t, st, uint64(i), d, parts(uint64(i), "source"))
				p := parseMedia(t, readFile(t, filepath.Join(st.dir, "source", "index.m3u8")))
				if p.target < last {
					t.Fatalf("after segment %d the target fell from %d to %d", i, last, p.target)
				}
				last = p.target
				checkExtinfRule(t, p)
			}
			if last != tt.want || st.Stats().TargetDuration != tt.want {
				t.Errorf("target = %d (stats %d), want %d", last, st.Stats().TargetDuration, tt.want)
			}
			if got := st.Stats().TargetRaises; got != tt.raises {
				t.Errorf("raises = %d, want %d", got, tt.raises)
			}
			if err := st.End(); err != nil {
				t.Fatal(err)
			}
			vod := parseMedia(t, readFile(t, filepath.Join(st.dir, "source", "index.m3u8")))
			checkExtinfRule(t, vod)
			if vod.target != tt.want {
				t.Errorf("VOD target = %d, want %d", vod.target, tt.want)
			}
		})
	}
}

// checkExtinfRule asserts RFC 8216 §4.3.3.1: each EXTINF rounded to the
// nearest integer is at most the target duration.
func checkExtinfRule(t *testing.T, p mediaLines) {
	t.Helper()
	for _, d := range p.extinf {
		if int(d+0.5) > p.target {
			t.Errorf("EXTINF %.3f exceeds target %d", d, p.target)
		}
	}
}

func TestLiveWindowKeepsThreeTargetDurations(t *testing.T) {
	s, _ := newTestStore(t, func(c *Config) { c.Window = 2 })
	st, _ := s.Open("w", nil)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source")) // target 2
	for seq := uint64(1); seq < 10; seq++ {
		mustAdd(t, st, seq, time.Second, parts(seq, "source"))
	}
	p := parseMedia(t, readFile(t, filepath.Join(st.dir, "source", "index.m3u8")))
	// Two one-second segments would be less than 3 × 2 s (RFC 8216 §6.2.2).
	if len(p.uris) != 6 || p.mediaSeq != 4 {
		t.Errorf("window = %d segments from %d, want 6 from 4: %v", len(p.uris), p.mediaSeq, p.uris)
	}
}

func TestSkippedSegmentNumbersAreADiscontinuity(t *testing.T) {
	s, _ := newTestStore(t, nil)
	st, _ := s.Open("gap", nil)
	for _, seq := range []uint64{10, 11, 14} {
		mustAdd(t, st, seq, 2*time.Second, parts(seq, "source"))
	}
	got := string(readFile(t, filepath.Join(st.dir, "source", "index.m3u8")))
	if !strings.Contains(got, "#EXT-X-MEDIA-SEQUENCE:10\n") ||
		!strings.Contains(got, "11.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n14.ts\n") {
		t.Errorf("playlist:\n%s", got)
	}
}

func TestMultivariantOrderAndAttributes(t *testing.T) {
	infs := []streamInf{
		{Variant: Variant{Name: "low"}, Peak: 300_000, URI: "low/index.m3u8"},
		{Variant: Variant{Name: "source", Width: 1920, Height: 1080, FrameRate: 59.94}, Peak: 100, Average: 90, URI: "source/index.m3u8"},
		{Variant: Variant{Name: "high", Codecs: "avc1.640028"}, Peak: 3_000_000, URI: "high/index.m3u8"},
	}
	got := string(renderMultivariant(infs, "source"))
	want := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=100,AVERAGE-BANDWIDTH=90,RESOLUTION=1920x1080,FRAME-RATE=59.940\nsource/index.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=300000\nlow/index.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS=\"avc1.640028\"\nhigh/index.m3u8\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestBandwidthIsMeasuredFromStoredBytes(t *testing.T) {
	s, _ := newTestStore(t, nil)
	st, _ := s.Open("bw", []Variant{{Name: "source", Bandwidth: 5_000_000}, {Name: "240p"}, {Name: "360p"}})
	// 240p: 50 kB every 2 s is 200 kbit/s. Segment 2 falls back to the
	// source's 500 kB, which does not count as 240p's own bit rate.
	// Segment 1 lasts 0.8 s: alone it is 500 kbit/s, but it is shorter
	// than half the target, so it counts only within runs of 1 s to 3 s
	// (RFC 8216 §4.3.4.2): (50 kB + 50 kB) × 8 / 2.8 s = 285 715 bit/s.
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source", "240p"))
	mustAdd(t, st, 1, 800*time.Millisecond, parts(1, "source", "240p"))
	mustAdd(t, st, 2, 2*time.Second, parts(2, "source"))
	got := string(readFile(t, filepath.Join(st.dir, "index.m3u8")))
	for _, want := range []string{
		// The declared figure is above the measured peak, so it stands.
		"BANDWIDTH=5000000,AVERAGE-BANDWIDTH=2500000\nsource/",
		"BANDWIDTH=285715,AVERAGE-BANDWIDTH=285715\n240p/",
		// 360p never had a segment of its own: it plays the source's.
		"BANDWIDTH=2857143,AVERAGE-BANDWIDTH=2500000\n360p/",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("multivariant lacks %q:\n%s", want, got)
		}
	}
}
