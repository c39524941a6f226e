package trust

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/castnet/castnet/internal/transcode"
)

// TestMeasurePictureAgreesWithPixels checks, on real ffmpeg output, that
// the size the H.264 SPS gives (after cropping) is the size the
// transcoder reports, so Pixels and a verifier agree.
func TestMeasurePictureAgreesWithPixels(t *testing.T) {
	vfNeedFFmpeg(t)
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	for _, c := range []struct {
		w, h     int
		profiles []transcode.Profile
	}{
		{320, 240, vfProfiles},
		{1280, 720, append([]transcode.Profile{transcode.SourceProfile()}, transcode.DefaultLadder()...)},
		{640, 480, []transcode.Profile{
			{Name: "wide", Width: 426, Height: 240, Bitrate: 200_000, FPS: 30},
			{Name: "tiny", Width: 98, Height: 62, Bitrate: 60_000, FPS: 10},
			{Name: "tall", Width: 144, Height: 256, Bitrate: 100_000, FPS: 24},
		}},
	} {
		t.Run(strconv.Itoa(c.w)+"x"+strconv.Itoa(c.h), func(t *testing.T) {
			src := vfSegment(t, c.w, c.h, "testsrc2")
			rends, err := ff.Transcode(t.Context(), transcode.Job{Seq: 1, Input: bytes.NewReader(src), Profiles: c.profiles,
				SourceWidth: c.w, SourceHeight: c.h})
			if err != nil {
				t.Fatal(err)
			}
			want, err := Pixels(rends)
			if err != nil {
				t.Fatal(err)
			}
			var got uint64
			for _, r := range rends {
				p, err := MeasurePicture(r.Data)
				if err != nil {
					t.Fatalf("%s: %v", r.Profile.Name, err)
				}
				if p.Width != r.Width || p.Height != r.Height {
					t.Errorf("%s: SPS says %dx%d, the transcoder reports %dx%d", r.Profile.Name, p.Width, p.Height, r.Width, r.Height)
				}
				if p.Frames == 0 || p.Pixels != uint64(r.Width)*uint64(r.Height)*uint64(p.Frames) {
					t.Errorf("%s: %d frames, %d pixels; the transcoder's size gives %d", r.Profile.Name, p.Frames,
						p.Pixels, uint64(r.Width)*uint64(r.Height)*uint64(p.Frames))
				}
				t.Logf("%s: %dx%d × %d frames", r.Profile.Name, p.Width, p.Height, p.Frames)
				if !r.Profile.IsSource() {
					got += p.Pixels
				}
			}
			if got != want {
				t.Errorf("pixels from the bytes %d, Pixels %d", got, want)
			}
		})
	}
}

func TestMeasurePictureRefusesGarbage(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":   nil,
		"garbage": bytes.Repeat([]byte{0x47, 1, 2, 3}, 200),
	} {
		p, err := MeasurePicture(b)
		if err == nil && p.Frames != 0 {
			t.Errorf("%s: %+v", name, p)
		}
	}
}
