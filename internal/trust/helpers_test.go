package trust

import (
	"encoding/json"
	"testing"

	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
)

// Helpers the trust tests share.

const vfStream = "cam"

// vfProfiles are the fixture's ladder: the passthrough and two small
// rungs whose sizes need H.264 cropping (180 and 188 lines, 250 columns).
var vfProfiles = []transcode.Profile{
	transcode.SourceProfile(),
	{Name: "180p", Width: 320, Height: 180, Bitrate: 200_000, FPS: 25},
	{Name: "odd", Width: 250, Height: 250, Bitrate: 150_000, FPS: 15},
}

// vfNeedFFmpeg skips a test without ffmpeg and ffprobe.
func vfNeedFFmpeg(t testing.TB) {
	t.Helper()
	mpegtstest.Tool(t, "ffmpeg")
	mpegtstest.Tool(t, "ffprobe")
}

// vfSegment makes a real 1 s w × h 25 fps H.264 + Opus MPEG-TS segment,
// as a browser's stream is cut; pattern picks the picture.
func vfSegment(t testing.TB, w, h int, pattern string) []byte {
	return mpegtstest.Segment(t, w, h, pattern)
}

func vfKey(t testing.TB) sign.Key {
	t.Helper()
	k, err := sign.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSeal(t *testing.T, k sign.Key, d sign.Domain, r record) Sealed {
	t.Helper()
	s, err := seal(k, d, r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustOpen[R any, PR interface {
	*R
	sign.Record
	json.Unmarshaler
}](t *testing.T, d sign.Domain, s Sealed) R {
	t.Helper()
	r, _, err := open[R, PR](d, s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
