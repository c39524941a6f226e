package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPublishTestPattern: `castnet publish -test-pattern` into `castnet dev`
// gives an ended HLS recording whose every rendition has the right size and
// adds up to the published time.
func TestPublishTestPattern(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	n := startNode(t)
	const seconds = 12
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := publish(ctx, "-test-pattern", "-duration", "12s", n.URL+"/whip/e2e")
	if err != nil {
		t.Fatalf("castnet publish: %v\n%s", err, out)
	}
	if !strings.Contains(out, "elapsed") {
		t.Errorf("publish printed no progress line:\n%s", out)
	}
	st := n.waitState("e2e", "ended", time.Minute)
	if st.LastError != "" {
		t.Errorf("stream error: %s", st.LastError)
	}
	names := checkRecording(t, filepath.Join(n.Data, "hls", "e2e"), seconds, 0.10, map[string][2]int{
		"source": {1280, 720}, "480p": {854, 480}, "360p": {640, 360},
	})
	slices.Sort(names)
	if want := []string{"360p", "480p", "source"}; !slices.Equal(names, want) {
		t.Errorf("renditions %v, want %v (720p dropped: it is not below the 720p source)", names, want)
	}
	// Playback over HTTP serves what is on disk.
	if master := get(t, n.URL+"/hls/e2e/index.m3u8"); !strings.Contains(master, "RESOLUTION=1280x720") {
		t.Errorf("multivariant playlist lacks the source:\n%s", master)
	}
	t.Logf("first segment latency %s, %d segments", st.Latency, st.Published)
}
