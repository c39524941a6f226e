package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKilledPublisherComesBackToTheSamePlaylist: on make run's defaults,
// a publisher killed mid-stream (no DELETE) that publishes the name
// again continues the same playlists: one EXT-X-DISCONTINUITY, the
// numbers running on, nothing archived, and an ENDLIST only at the end.
func TestKilledPublisherComesBackToTheSamePlaylist(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	n := startNode(t)
	first := exec.Command(binary, "publish", "-test-pattern", "-duration", "60s", n.URL+"/whip/back")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	n.waitPublished(t, "back", 2, time.Minute)
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killed := time.Now()

	// The name is the dead session's until the node notices (no media for
	// 10 s); the publisher retries, as a browser page's reconnect does.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out string
	for {
		o, err := publish(ctx, "-test-pattern", "-duration", "6s", n.URL+"/whip/back")
		out = o
		if err == nil || !strings.Contains(o, "409") || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("back %.1fs after the kill:\n%s", time.Since(killed).Seconds(), lastLine(out))
	n.waitState("back", "ended", time.Minute)
	pl, err := os.ReadFile(filepath.Join(n.Data, "hls", "back", "source", "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(pl), "#EXT-X-DISCONTINUITY\n") != 1 || !strings.Contains(string(pl), "#EXT-X-ENDLIST") {
		t.Errorf("want one continued playlist with one discontinuity:\n%s", pl)
	}
	if archived, _ := filepath.Glob(filepath.Join(n.Data, "archive", "back", "*")); len(archived) != 0 {
		t.Errorf("the first session was archived %v instead of continued", archived)
	}
	uris := playlistURIs(string(pl))
	for i := 1; i < len(uris); i++ {
		if seqOf(uris[i]) != seqOf(uris[i-1])+1 {
			t.Errorf("segment numbers break between %s and %s", uris[i-1], uris[i])
		}
	}
}

func seqOf(uri string) int {
	n := 0
	for _, c := range strings.TrimSuffix(filepath.Base(uri), ".ts") {
		n = n*10 + int(c-'0')
	}
	return n
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
