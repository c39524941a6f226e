package mpegts_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
)

// scanFrames counts ScanH264's frames and checks its heads.
func scanFrames(t testing.TB, ts []byte) (frames, calls int, err error) {
	err = mpegts.ScanH264(ts, func(hasPTS bool, head []byte) error {
		if len(head) > 2048 {
			t.Fatalf("head of %d bytes", len(head))
		}
		calls++
		if hasPTS {
			frames++
		}
		return nil
	})
	return frames, calls, err
}

// TestScanH264AgreesWithTheDemuxer: on ffmpeg's output and on ours, the
// packet walk finds the frames the demuxer assembles, and each frame's
// head starts with the same bytes as the frame.
func TestScanH264AgreesWithTheDemuxer(t *testing.T) {
	video := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: 1, FPS: 25})
	ours := muxAUs(t, mpegts.MuxerConfig{Video: true, Audio: mpegts.AudioOpus}, video, mpegtstest.EncodeOpus(t, 1))
	out := filepath.Join(t.TempDir(), "ffmpeg.ts")
	mpegtstest.Run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", writeTemp(t, "in.ts", ours),
		"-c", "copy", "-f", "mpegts", out)
	theirs, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, ts := range map[string][]byte{"ours": ours, "ffmpeg": theirs} {
		var want [][]byte
		for _, p := range demuxAll(t, ts) {
			if p.Codec == media.CodecH264 && p.HasPTS {
				want = append(want, p.Data)
			}
		}
		i := 0
		err := mpegts.ScanH264(ts, func(hasPTS bool, head []byte) error {
			if hasPTS {
				if i >= len(want) || !bytes.HasPrefix(want[i], head) || len(head) != min(len(want[i]), 2048) {
					t.Errorf("%s: frame %d head differs from the demuxed frame", name, i)
				}
				i++
			}
			return nil
		})
		if err != nil || i != len(want) || i != len(video) {
			t.Errorf("%s: %d frames (%v), demuxer %d, encoded %d", name, i, err, len(want), len(video))
		}
	}
}

func TestScanH264RefusesBrokenPackets(t *testing.T) {
	seeds := fuzzSeeds(t)
	for _, name := range []string{"truncated", "resync", "one-sync"} {
		if _, _, err := scanFrames(t, seeds[name]); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if n, _, err := scanFrames(t, seeds["clean"]); err != nil || n != 2 {
		t.Errorf("clean: %d frames, %v", n, err)
	}
}

// FuzzScanH264 feeds arbitrary bytes to the packet walk: it must not
// panic, heads stay within 2 KiB, and it never finds more frames than the
// input has packets.
func FuzzScanH264(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, calls, err := scanFrames(t, data)
		if calls > len(data)/mpegts.PacketSize || (err == nil && frames > calls) {
			t.Fatalf("%d frames in %d calls from %d bytes", frames, calls, len(data))
		}
	})
}
