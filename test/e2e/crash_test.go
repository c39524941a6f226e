package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCrashedNodeRecoversItsStreams: `castnet dev` SIGKILLed mid-stream
// and started again on the same data: the stream is a complete VOD
// (ENDLIST), the API lists it as ended and recovered, the publisher was
// told the node went away, and the custody log checks out.
func TestCrashedNodeRecoversItsStreams(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	first := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	published := publishInBackground(ctx, "60s", first.URL+"/whip/crash")
	first.waitPublished(t, "crash", 2, time.Minute)
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	select {
	case r := <-published:
		if r.err == nil {
			t.Error("castnet publish exited 0 after the node was killed")
		}
	case <-time.After(30 * time.Second):
		t.Error("castnet publish did not notice the node was killed within 30 s")
	}

	again := startNode(t, "-data", first.Data)
	st, code := again.stream("crash")
	if code != http.StatusOK || st.State != "ended" || !st.Recovered || st.Published < 2 {
		t.Fatalf("after the restart /api/streams/crash: %d %+v; want ended, recovered, the segments", code, st)
	}
	pl := get(t, again.URL+"/hls/crash/source/index.m3u8")
	if !strings.Contains(pl, "#EXT-X-ENDLIST") || len(playlistURIs(pl)) < 2 {
		t.Errorf("after the restart the playlist is not a complete VOD:\n%s", pl)
	}
	checkCustodyConsistent(t, filepath.Join(first.Data, "hls", "crash"))
}
