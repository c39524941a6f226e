package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mediaPlaylist is a parsed HLS media playlist.
type mediaPlaylist struct {
	Segments []string
	Total    float64 // sum of EXTINF durations, seconds
	Ended    bool
}

func parseMedia(t *testing.T, text string) mediaPlaylist {
	t.Helper()
	var p mediaPlaylist
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(l, "#EXTINF:"), ",")
			d, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("bad EXTINF %q", l)
			}
			p.Total += d
		case l == "#EXT-X-ENDLIST":
			p.Ended = true
		case l != "" && !strings.HasPrefix(l, "#"):
			p.Segments = append(p.Segments, l)
		}
	}
	return p
}

// variantURIs lists the media playlists of a multivariant playlist.
func variantURIs(text string) []string {
	var out []string
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "#EXT-X-STREAM-INF:") && i+1 < len(lines) {
			out = append(out, strings.TrimSpace(lines[i+1]))
		}
	}
	return out
}

// probe is what ffprobe says of one segment.
type probe struct {
	Width, Height int
	VideoCodec    string
	AudioCodec    string
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	var p probe
	for _, s := range r.Streams {
		switch s.CodecType {
		case "video":
			p.Width, p.Height, p.VideoCodec = s.Width, s.Height, s.CodecName
		case "audio":
			p.AudioCodec = s.CodecName
		}
	}
	return p
}

// decodes runs the segment through ffmpeg's decoders and fails on any
// error. Timestamps pass through in the input's 90 kHz time base: browsers
// send variable frame rates, and ffmpeg's default 1/fps encoder time base
// for the null muxer would round two frames closer than 1/fps onto one tick
// and report a muxing error that is not in the segment.
func decodes(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-fps_mode", "passthrough", "-enc_time_base:v", "-1", "-f", "null", "-").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("%s does not decode cleanly: %v %s", path, err, out)
	}
}

// checkRecording verifies a finished stream on disk: every rendition
// listed, ended, decodable at its resolution, adding up to about want
// seconds. It returns the rendition names.
func checkRecording(t *testing.T, dir string, wantSeconds, tolerance float64, sizes map[string][2]int) []string {
	t.Helper()
	master, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, uri := range variantURIs(string(master)) {
		name := filepath.Dir(uri)
		names = append(names, name)
		text, err := os.ReadFile(filepath.Join(dir, uri))
		if err != nil {
			t.Fatal(err)
		}
		pl := parseMedia(t, string(text))
		if !pl.Ended {
			t.Errorf("%s: no EXT-X-ENDLIST after the stream ended", uri)
		}
		if pl.Total < wantSeconds*(1-tolerance) || pl.Total > wantSeconds*(1+tolerance) {
			t.Errorf("%s: segments add up to %.2fs, want %.1fs ±%.0f%%", uri, pl.Total, wantSeconds, tolerance*100)
		}
		for i, seg := range pl.Segments {
			path := filepath.Join(dir, filepath.Dir(uri), seg)
			p := ffprobe(t, path)
			if want, ok := sizes[name]; ok && (p.Width != want[0] || p.Height != want[1]) {
				t.Errorf("%s: %dx%d, want %dx%d", path, p.Width, p.Height, want[0], want[1])
			}
			if p.VideoCodec != "h264" || p.AudioCodec != "aac" {
				t.Errorf("%s: codecs %s/%s, want h264/aac", path, p.VideoCodec, p.AudioCodec)
			}
			if i == 0 || i == len(pl.Segments)-1 {
				decodes(t, path)
			}
		}
	}
	return names
}
