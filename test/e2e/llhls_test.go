package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var preloadHint = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.ts"`)

// TestLLHLSOnEveryRendition: on make run's defaults, every rendition's
// media playlist carries parts, a preload hint and server control; a
// blocking reload for the hinted part returns once the part exists, well
// within a part's duration or two, and the part downloads and decodes on
// its own.
func TestLLHLSOnEveryRendition(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	n := startNode(t)
	startPublisher(t, "-test-pattern", "-duration", "40s", n.URL+"/whip/ll")
	n.waitPublished(t, "ll", 2, time.Minute)
	for _, r := range []string{"source", "480p", "360p"} {
		t.Run(r, func(t *testing.T) {
			base := n.URL + "/hls/ll/" + r + "/"
			pl := waitForParts(t, base+"index.m3u8")
			for _, tag := range []string{"#EXT-X-PART-INF:PART-TARGET=", "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
				"#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:TYPE=PART", "#EXT-X-PROGRAM-DATE-TIME:"} {
				if !strings.Contains(pl, tag) {
					t.Errorf("playlist lacks %s:\n%s", tag, pl)
				}
			}
			m := preloadHint.FindStringSubmatch(pl)
			if m == nil {
				t.Fatalf("no preload hint:\n%s", pl)
			}
			start := time.Now()
			blocked := get(t, fmt.Sprintf("%sindex.m3u8?_HLS_msn=%s&_HLS_part=%s", base, m[1], m[2]))
			took := time.Since(start)
			part := m[1] + "." + m[2] + ".ts"
			t.Logf("blocking reload for %s answered after %s", part, took.Round(time.Millisecond))
			if !strings.Contains(blocked, `URI="`+part+`"`) || took > 1500*time.Millisecond {
				t.Fatalf("blocking reload for %s: %s later, playlist:\n%s", part, took, blocked)
			}
			checkPart(t, base+part)
		})
	}
	// The streamed answers were whole: every segment's renditions checked,
	// their receipts (trailers now) verified, nothing fell back.
	if st, _ := n.stream("ll"); st.Failures != 0 || st.SourceOnly != 0 || st.LastError != "" {
		t.Errorf("transcode failures %d, source-only segments %d, last error %q", st.Failures, st.SourceOnly, st.LastError)
	}
}

// waitForParts polls a media playlist until it lists parts.
func waitForParts(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pl := get(t, url)
		if strings.Contains(pl, "#EXT-X-PART:") && preloadHint.MatchString(pl) {
			return pl
		}
		if time.Now().After(deadline) {
			t.Fatalf("no parts in %s within 30 s:\n%s", url, pl)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkPart downloads a part and has ffmpeg decode it alone.
func checkPart(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || len(b) == 0 || b[0] != 0x47 {
		t.Fatalf("GET %s: %d, %d bytes, %v", url, resp.StatusCode, len(b), err)
	}
	path := filepath.Join(t.TempDir(), "part.ts")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if p := ffprobe(t, path); p.VideoCodec != "h264" {
		t.Errorf("part %s probes as %+v, want H.264", url, p)
	}
}
