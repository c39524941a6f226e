package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// variantAttrs is one EXT-X-STREAM-INF entry of a multivariant playlist.
type variantAttrs struct {
	Name          string
	Bandwidth     int
	Width, Height int
	Codecs        string
	FrameRate     float64
}

// parseVariants reads every EXT-X-STREAM-INF entry, in playlist order.
func parseVariants(t testing.TB, text string) []variantAttrs {
	t.Helper()
	var out []variantAttrs
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		attrs, ok := strings.CutPrefix(l, "#EXT-X-STREAM-INF:")
		if !ok || i+1 >= len(lines) {
			continue
		}
		v := variantAttrs{Name: filepath.Dir(strings.TrimSpace(lines[i+1]))}
		for _, kv := range splitAttrs(attrs) {
			k, val, _ := strings.Cut(kv, "=")
			switch k {
			case "BANDWIDTH":
				v.Bandwidth, _ = strconv.Atoi(val)
			case "RESOLUTION":
				fmt.Sscanf(val, "%dx%d", &v.Width, &v.Height)
			case "CODECS":
				v.Codecs = strings.Trim(val, `"`)
			case "FRAME-RATE":
				v.FrameRate, _ = strconv.ParseFloat(val, 64)
			}
		}
		out = append(out, v)
	}
	return out
}

// splitAttrs splits an attribute list on the commas outside quotes.
func splitAttrs(s string) []string {
	var out []string
	quoted, start := false, 0
	for i, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func variantNames(vs []variantAttrs) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

// segmentFacts is what ffprobe says of one segment's video.
type segmentFacts struct {
	Path          string
	Width, Height int
	Profile       string // ffprobe's name: "Constrained Baseline", "Main", "High"...
	Level         int    // level_idc
	Frames        int
	Duration      float64 // seconds, from the media playlist
}

func probeSegment(t testing.TB, path string, dur float64) segmentFacts {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct {
		Streams []struct {
			Width, Height int
			Profile       string `json:"profile"`
			Level         int    `json:"level"`
			Packets       string `json:"nb_read_packets"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) == 0 {
		t.Fatalf("ffprobe %s: no video stream (%v)", path, err)
	}
	s := r.Streams[0]
	n, _ := strconv.Atoi(s.Packets)
	return segmentFacts{Path: path, Width: s.Width, Height: s.Height, Profile: s.Profile, Level: s.Level,
		Frames: n, Duration: dur}
}

// renditionSegments probes every segment a media playlist lists, in order,
// and checks that each decodes without an error.
func renditionSegments(t testing.TB, dir, name string) []segmentFacts {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(dir, name, "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	var out []segmentFacts
	var dur float64
	for _, l := range strings.Split(string(text), "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "#EXTINF:"); ok {
			dur, _ = strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		path := filepath.Join(dir, name, l)
		decodes(t, path)
		out = append(out, probeSegment(t, path, dur))
	}
	return out
}

// profileIDC maps ffprobe's H.264 profile names to profile_idc.
var profileIDC = map[string]int{"Constrained Baseline": 66, "Baseline": 66, "Main": 77, "High": 100}

// checkDeclared checks that a variant's attributes are true for every
// segment its playlist serves: RESOLUTION is the largest picture, CODECS
// names a profile and level at least those of every segment, and
// FRAME-RATE is at least every segment's frame count over its duration
// (to within one frame of rounding at the segment's ends).
func checkDeclared(t testing.TB, v variantAttrs, segs []segmentFacts) {
	t.Helper()
	var maxW, maxH int
	for _, s := range segs {
		if s.Width*s.Height > maxW*maxH {
			maxW, maxH = s.Width, s.Height
		}
		checkCodec(t, v, s)
		if s.Duration > 0 && float64(s.Frames-1)/s.Duration > v.FrameRate+0.01 {
			t.Errorf("%s: FRAME-RATE=%.3f but %s has %d frames in %.3fs", v.Name, v.FrameRate, s.Path, s.Frames, s.Duration)
		}
	}
	if v.Width != maxW || v.Height != maxH {
		t.Errorf("%s: RESOLUTION=%dx%d but its largest segment is %dx%d", v.Name, v.Width, v.Height, maxW, maxH)
	}
}

func checkCodec(t testing.TB, v variantAttrs, s segmentFacts) {
	t.Helper()
	video, _, _ := strings.Cut(v.Codecs, ",")
	var prof, flags, level int
	if _, err := fmt.Sscanf(video, "avc1.%02x%02x%02x", &prof, &flags, &level); err != nil {
		t.Errorf("%s: CODECS %q is not avc1.PPCCLL", v.Name, v.Codecs)
		return
	}
	if want, ok := profileIDC[s.Profile]; !ok || prof < want || level < s.Level {
		t.Errorf("%s: CODECS %q does not cover %s (profile %s, level %d)", v.Name, v.Codecs, s.Path, s.Profile, s.Level)
	}
}

// checkOrder checks that BANDWIDTH falls with RESOLUTION down the ladder.
func checkOrder(t testing.TB, vs []variantAttrs) {
	t.Helper()
	for i := 1; i < len(vs); i++ {
		a, b := vs[i-1], vs[i]
		if a.Height > b.Height && a.Bandwidth < b.Bandwidth {
			t.Errorf("%s (%dp) declares BANDWIDTH=%d, below %s (%dp) at %d", a.Name, a.Height, a.Bandwidth,
				b.Name, b.Height, b.Bandwidth)
		}
	}
}
