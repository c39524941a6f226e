package broadcaster

import (
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/playback/hls"
)

// tsSegment makes a 2 s H.264 + AAC MPEG-TS segment, as a rung is.
func tsSegment(t *testing.T) []byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	path := filepath.Join(t.TempDir(), "seg.ts")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "2", "-c:v", "libx264", "-bf", "0", "-g", "60",
		"-c:a", "aac", "-f", "mpegts", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// partsHarness is a stream whose playlists are open, with segment 0 stored.
func partsHarness(t *testing.T) (*Stream, *hls.Stream) {
	t.Helper()
	store, err := hls.New(hls.Config{Dir: filepath.Join(t.TempDir(), "hls")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := store.Open("cam", []hls.Variant{{Name: "source"}, {Name: "360p"}})
	if err != nil {
		t.Fatal(err)
	}
	seg := tsSegment(t)
	if err := h.AddSegment(0, 2*time.Second, map[string][]byte{"source": seg, "360p": seg}); err != nil {
		t.Fatal(err)
	}
	b := &Broadcaster{cfg: Config{Store: store}, log: slog.New(slog.DiscardHandler)}
	st := &Stream{b: b, hls: h, log: b.log}
	return st, h
}

// mediaPlaylist is the live media playlist as a player GETs it.
func mediaPlaylist(t *testing.T, st *Stream, rendition string) string {
	t.Helper()
	w := httptest.NewRecorder()
	st.b.cfg.Store.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/hls/cam/"+rendition+"/index.m3u8", nil))
	if w.Code != 200 {
		t.Fatalf("GET %s playlist: %d", rendition, w.Code)
	}
	return w.Body.String()
}

// Streamed renditions become parts as their bytes come, and a rendition
// that starts over (the transcode moved to another node mid-segment) is
// listed without parts: the new encoder's pictures cannot follow the old
// one's.
func TestStreamedRenditionsBecomePartsAndARestartDropsThem(t *testing.T) {
	st, h := partsHarness(t)
	seg := tsSegment(t)
	sp := st.newSegmentParts(1)
	write := sp.partial()
	for off := 0; off < len(seg); off += 4096 {
		end := min(off+4096, len(seg))
		write("source", int64(off), seg[off:end])
		if off < len(seg)/2 {
			write("360p", int64(off), seg[off:end])
		}
	}
	write("360p", 0, seg[:4096]) // the work moved: 360p starts over
	sp.finish(2*time.Second, false)
	if err := h.AddSegment(1, 2*time.Second, map[string][]byte{"source": seg, "360p": seg}); err != nil {
		t.Fatal(err)
	}
	if pl := mediaPlaylist(t, st, "source"); strings.Count(pl, `URI="1.`) < 4 {
		t.Errorf("source lists %d parts of segment 1, want its 2 s in parts:\n%s", strings.Count(pl, `URI="1.`), pl)
	}
	if pl := mediaPlaylist(t, st, "360p"); strings.Contains(pl, `URI="1.`) {
		t.Errorf("360p lists parts of segment 1 after its restart:\n%s", pl)
	}
}
