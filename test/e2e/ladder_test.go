package e2e

import (
	"github.com/chromedp/chromedp"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// defaultRungs is what the default ladder gives a 720p publisher.
var defaultRungs = []string{"source", "480p", "360p"}

// wantSizes is the size of each rendition of the default ladder at a
// 1280x720 source.
var wantSizes = map[string][2]int{"source": {1280, 720}, "480p": {854, 480}, "360p": {640, 360}}

// firstMultivariant polls the node for the stream's multivariant playlist
// and returns the first one served.
func firstMultivariant(t testing.TB, n *node, stream string, limit time.Duration) []variantAttrs {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(n.URL + "/hls/" + stream + "/index.m3u8")
		if err == nil && resp.StatusCode == http.StatusOK {
			b := new(strings.Builder)
			_, _ = io.Copy(b, resp.Body)
			resp.Body.Close()
			return parseVariants(t, b.String())
		}
		if resp != nil {
			resp.Body.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no multivariant playlist for %s within %s", stream, limit)
	return nil
}

// checkLadder checks a finished stream on disk: the listed renditions are
// want, every segment of every one decodes, each variant's attributes are
// true for what it served, BANDWIDTH is ordered with size, and each
// rendition reached its full size. It returns each rendition's segments.
func checkLadder(t testing.TB, dir string, want []string, full map[string][2]int) map[string][]segmentFacts {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	vs := parseVariants(t, string(text))
	if got := variantNames(vs); !reflect.DeepEqual(got, want) {
		t.Fatalf("final multivariant playlist lists %v, want %v:\n%s", got, want, text)
	}
	out := map[string][]segmentFacts{}
	for _, v := range vs {
		segs := renditionSegments(t, dir, v.Name)
		checkDeclared(t, v, segs)
		if f, ok := full[v.Name]; ok && (v.Width != f[0] || v.Height != f[1]) {
			t.Errorf("%s: RESOLUTION=%dx%d, want %dx%d", v.Name, v.Width, v.Height, f[0], f[1])
		}
		out[v.Name] = segs
		t.Logf("%s: %d segments, BANDWIDTH=%d RESOLUTION=%dx%d CODECS=%s FRAME-RATE=%.3f",
			v.Name, len(segs), v.Bandwidth, v.Width, v.Height, v.Codecs, v.FrameRate)
	}
	checkOrder(t, vs)
	for name, segs := range out {
		if len(segs) != len(out["source"]) {
			t.Errorf("%s has %d segments, source %d", name, len(segs), len(out["source"]))
		}
	}
	return out
}

// firstFrameAt returns the stream time, in seconds from the first frame,
// of the first source frame at least h tall (-1: none).
func firstFrameAt(t testing.TB, segs []segmentFacts, h int) float64 {
	t.Helper()
	var start float64 = -1
	for _, s := range segs {
		out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
			"frame=pts_time,height", "-of", "csv=p=0", s.Path).Output()
		if err != nil {
			t.Fatalf("ffprobe frames %s: %v", s.Path, err)
		}
		for _, l := range strings.Fields(string(out)) {
			pts, height, _ := strings.Cut(l, ",")
			ts, err1 := strconv.ParseFloat(pts, 64)
			hh, err2 := strconv.Atoi(height)
			if err1 != nil || err2 != nil {
				continue
			}
			if start < 0 {
				start = ts
			}
			if hh >= h {
				return ts - start
			}
		}
	}
	return -1
}

// TestStandardBrowserPublisherGetsFullLadder: a WHIP page written from the
// specs alone, on another origin, asks Chromium's camera for 1280x720 and
// publishes to `castnet dev` on its defaults. The first multivariant
// playlist already lists every rung, the source is 1280x720 within 5 s of
// stream time, and after the stream ends every segment of every rendition
// decodes and every declared attribute is true.
func TestStandardBrowserPublisherGetsFullLadder(t *testing.T) {
	needTools(t, "chromium", "ffmpeg", "ffprobe")
	n := startNode(t)
	ctx := browser(t)
	publishStandard(t, ctx, standardPage(t), n.URL+"/whip/std")
	started := time.Now()
	first := firstMultivariant(t, n, "std", 20*time.Second)
	if got := variantNames(first); !reflect.DeepEqual(got, defaultRungs) {
		t.Fatalf("first multivariant playlist lists %v, want %v", got, defaultRungs)
	}
	pageRamp := waitRamp(t, ctx, 720, 10*time.Second)
	if rest := 14*time.Second - time.Since(started); rest > 0 {
		time.Sleep(rest)
	}
	evalT[any](t, ctx, `(stop(), 0)`)
	run(t, ctx, 15*time.Second, "stop", poll(`deleted > 0`, 10*time.Second))
	if code := evalT[int](t, ctx, `deleted`); code != http.StatusOK {
		t.Errorf("WHIP DELETE: HTTP %d", code)
	}
	st := n.waitState("std", "ended", time.Minute)
	t.Logf("first segment latency %s", st.Latency)
	segs := checkLadder(t, filepath.Join(n.Data, "hls", "std"), defaultRungs, wantSizes)
	at := firstFrameAt(t, segs["source"], 720)
	t.Logf("source at 720p after %.2fs of stream time (the sender saw %.2fs)", at, pageRamp)
	if at < 0 || at > 5 {
		t.Errorf("source reached 720p at %.2fs of stream time, want within 5s", at)
	}
}

// TestResolutionChangesMidStream: a publisher changes size mid-stream, as
// a browser does: ramping up from 360p, or dropping from 720p to 360p under
// loss and coming back. The first multivariant playlist lists every rung
// whatever size the publisher starts at; every rendition keeps every
// segment, each decodes, the rungs never upscale, the declared attributes
// stay true, and hls.js in Chromium plays through every switch.
func TestResolutionChangesMidStream(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe", "chromium")
	for _, tc := range []struct {
		name, sizes, duration string
		playTo                float64 // seconds: a second past the last switch
	}{
		{"ramps up from 360p", "640x360,1280x720", "8s", 5},
		{"drops to 360p and back", "1280x720,640x360,1280x720", "12s", 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t)
			pub := exec.Command(binary, "publish", "-test-pattern", "-sizes", tc.sizes,
				"-switch-every", "4s", "-duration", tc.duration, n.URL+"/whip/switch")
			out := &logBuffer{}
			pub.Stdout, pub.Stderr = out, out
			if err := pub.Start(); err != nil {
				t.Fatal(err)
			}
			first := firstMultivariant(t, n, "switch", 20*time.Second)
			if got := variantNames(first); !reflect.DeepEqual(got, defaultRungs) {
				t.Errorf("first multivariant playlist lists %v, want %v", got, defaultRungs)
			}
			played := watchThrough(t, n, "switch", tc.playTo)
			if err := pub.Wait(); err != nil {
				t.Fatalf("castnet publish: %v\n%s", err, out.String())
			}
			n.waitState("switch", "ended", time.Minute)
			checkSwitches(t, checkLadder(t, filepath.Join(n.Data, "hls", "switch"), defaultRungs, wantSizes))
			t.Logf("hls.js played %.1fs of it", played)
		})
	}
}

// watchThrough plays the stream on the watch page (hls.js), from while it
// is live, until playback passes to seconds, and returns how far it got.
func watchThrough(t testing.TB, n *node, stream string, to float64) float64 {
	t.Helper()
	watch := browser(t)
	run(t, watch, 40*time.Second, "watch page plays through the switch",
		chromedp.Navigate(n.URL+"/watch/"+stream+"?mode=hls"), // hls.js through the switch, not WHEP
		poll(`window.castnet.engine === 'hls.js' && document.querySelector('video#player').currentTime > `+
			strconv.FormatFloat(to, 'f', 1, 64), 35*time.Second),
	)
	return evalT[float64](t, watch, `document.querySelector('video#player').currentTime`)
}

// checkSwitches: no rung segment is taller than its source segment.
func checkSwitches(t testing.TB, segs map[string][]segmentFacts) {
	t.Helper()
	sizes := map[int]bool{}
	for i, s := range segs["source"] {
		sizes[s.Height] = true
		for _, rung := range []string{"480p", "360p"} {
			if r := segs[rung][i]; r.Height > s.Height {
				t.Errorf("%s segment %d is %dp from a %dp source: upscaled", rung, i, r.Height, s.Height)
			}
		}
	}
	if !sizes[360] || !sizes[720] {
		t.Errorf("source heights %v: the publisher did not switch between 360p and 720p", sizes)
	}
}
