package mpegts_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
)

// picFrame is one frame for muxPicture: its PTS and, on a keyframe, the
// size its SPS gives (0 × 0: no SPS).
type picFrame struct {
	pts  time.Duration
	w, h int
}

// muxPicture muxes fake H.264 frames (an SPS where w × h is set, then a
// slice) with continuous continuity counters.
func muxPicture(t *testing.T, frames []picFrame) []byte {
	t.Helper()
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	if err := m.WriteTables(); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		nalus := [][]byte{{0x41, byte(i), 0x80}}
		if f.w != 0 {
			nalus = [][]byte{mpegtstest.SPS(f.w, f.h), {0x68, 0xce, 0x3c, 0x80}, {0x65, byte(i), 0x80}}
		}
		if err := m.WriteVideoNALUs(f.pts, f.pts, f.w != 0, nalus); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// run is n frames at fps from start, with an SPS of w × h on the first.
func run(start time.Duration, n, fps, w, h int) []picFrame {
	out := make([]picFrame, n)
	for i := range out {
		out[i].pts = start + time.Duration(i)*time.Second/time.Duration(fps)
	}
	out[0].w, out[0].h = w, h
	return out
}

func TestMeasureH264(t *testing.T) {
	wrap := mpegts.TicksToDuration(1 << 33)
	twice := append(run(time.Second, 10, 10, 640, 360), run(time.Second, 10, 10, 640, 360)...)
	switched := run(time.Second, 10, 10, 640, 360)
	switched[5].w, switched[5].h = 16896, 16896
	tests := []struct {
		name    string
		frames  []picFrame
		want    mpegts.Picture
		wantErr string
	}{
		{name: "one size, in order", frames: run(time.Second, 10, 10, 640, 360),
			want: mpegts.Picture{Width: 640, Height: 360, Frames: 10, Pixels: 10 * 640 * 360}},
		{name: "an odd size is cropped", frames: run(0, 3, 10, 250, 188),
			want: mpegts.Picture{Width: 250, Height: 188, Frames: 3, Pixels: 3 * 250 * 188}},
		{name: "frames sent twice go back in time", frames: twice,
			want: mpegts.Picture{Width: 640, Height: 360, Frames: 20, Pixels: 20 * 640 * 360, Unordered: 1}},
		{name: "an SPS that switches mid-segment is noted and counted at its size", frames: switched,
			want: mpegts.Picture{Width: 640, Height: 360, Frames: 10, Pixels: 5*640*360 + 5*16896*16896,
				OtherWidth: 16896, OtherHeight: 16896}},
		{name: "in order across the 33-bit wrap", frames: run(wrap-200*time.Millisecond, 5, 10, 320, 180),
			want: mpegts.Picture{Width: 320, Height: 180, Frames: 5, Pixels: 5 * 320 * 180}},
		{name: "a frame before any SPS fails", frames: []picFrame{{pts: 0}}, wantErr: "before any H.264 SPS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mpegts.MeasureH264(muxPicture(t, tt.frames))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, tt.want)
			}
			if got.Resized() != (tt.want.OtherWidth != 0) {
				t.Errorf("Resized() %v", got.Resized())
			}
		})
	}
}

// FuzzMeasureH264 feeds arbitrary bytes to the measurement a broadcaster
// bills and checks renditions by (their bytes come from an orchestrator):
// it must not panic, and what it reports must hang together.
func FuzzMeasureH264(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := mpegts.MeasureH264(data)
		if err != nil {
			return
		}
		if p.Frames > len(data)/mpegts.PacketSize || p.Unordered >= max(p.Frames, 1) || p.Frames == 0 && p.Pixels != 0 {
			t.Fatalf("%+v from %d bytes", p, len(data))
		}
	})
}
