package segment_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/segment"
)

// TestSegmentsDecodeWithFFmpeg segments real libx264 and libopus output and
// checks every segment on its own with ffprobe and ffmpeg: both codecs,
// the duration the segmenter reports, every frame present, a clean decode.
// The segments joined decode cleanly too, as one stream.
func TestSegmentsDecodeWithFFmpeg(t *testing.T) {
	const secs = 7
	audio := mpegtstest.EncodeOpus(t, secs)
	tests := []struct {
		name       string
		keyframes  string
		wantStarts []time.Duration
	}{
		{"IDR every second", "", []time.Duration{0, ms(2000), ms(4000), ms(6000)}},
		{"irregular IDRs", "0,1.3,2.1,2.5,4.6,5.9", []time.Duration{0, ms(2100), ms(4600)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			video := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: secs, FPS: fps, Keyframes: tt.keyframes})
			segs, _ := run(t, segment.Config{Video: media.CodecH264, Audio: media.CodecOpus}, interleave(video, audio))
			var starts []time.Duration
			var all bytes.Buffer
			dir := t.TempDir()
			for _, g := range segs {
				starts = append(starts, g.Start)
				all.Write(g.Bytes())
				path := filepath.Join(dir, "seg"+itoa(g.Seq)+".ts")
				if err := os.WriteFile(path, g.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				checkSegment(t, path, g)
			}
			if !slices.Equal(starts, tt.wantStarts) {
				t.Errorf("starts = %v, want %v", starts, tt.wantStarts)
			}
			joined := filepath.Join(dir, "all.ts")
			if err := os.WriteFile(joined, all.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if log := mpegtstest.Decode(t, joined); log != "" {
				t.Errorf("joined segments: ffmpeg logged:\n%s", log)
			}
		})
	}
}

func checkSegment(t *testing.T, path string, g *segment.Segment) {
	t.Helper()
	p := mpegtstest.FFprobe(t, path)
	var codecs []string
	for _, s := range p.Streams {
		codecs = append(codecs, s.CodecName)
		if s.CodecName == "h264" {
			want := int((g.Duration() + time.Second/fps/2) * fps / time.Second)
			if s.NbFrames != itoa(uint64(want)) {
				t.Errorf("segment %d: %s video frames, want %d", g.Seq, s.NbFrames, want)
			}
		}
	}
	if strings.Join(codecs, ",") != "h264,opus" {
		t.Errorf("segment %d: codecs %v", g.Seq, codecs)
	}
	// ffprobe measures from the earliest to the latest end of any stream;
	// audio may run up to one 20 ms packet past the video's end.
	if d := p.Duration() - g.Duration(); d < -ms(5) || d > ms(30) {
		t.Errorf("segment %d: ffprobe duration %v, segmenter says %v", g.Seq, p.Duration(), g.Duration())
	}
	if log := mpegtstest.Decode(t, path); log != "" {
		t.Errorf("segment %d: ffmpeg logged:\n%s", g.Seq, log)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
