package broadcaster

import (
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/playback/hls/hlstest"
)

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
	seg := hlstest.Segments(t, "320x180", 2, 2, 0)[0]
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
	seg := hlstest.Segments(t, "320x180", 2, 2, 0)[0]
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
