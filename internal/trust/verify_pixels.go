package trust

import (
	"fmt"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
)

// nalSPS is H.264's sequence parameter set NAL unit type.
const nalSPS = 7

// Picture is what a rendition's bytes hold: its H.264 frames (PES packets
// with a PTS, as Pixels counts them) and their size after cropping, from
// the sequence parameter sets in the stream.
type Picture struct {
	Width, Height int
	Frames        int
	// Pixels is Σ width × height over the frames, each frame at the size
	// of the last SPS before it (Width and Height are the first SPS's).
	Pixels uint64
}

// MeasurePicture reads a rendition's MPEG-TS bytes: the billable pixels
// from the bytes alone, with no word from the transcoder on its size. It
// walks the TS packets without assembling frames (mpegts.ScanH264): each
// video PES with a PTS is a frame, at the size of the last SPS seen in the
// parameter sets before a frame's first slice. A frame before any SPS, an
// SPS that does not parse, or a broken packet is an error.
func MeasurePicture(ts []byte) (Picture, error) {
	var (
		p    Picture
		cur  media.SPSInfo
		seen bool
	)
	err := mpegts.ScanH264(ts, func(hasPTS bool, head []byte) error {
		for _, nal := range media.SplitAnnexB(head) {
			t := media.NALUType(nal)
			if t >= 1 && t <= 5 {
				break // the first slice: parameter sets come before it
			}
			if t != nalSPS {
				continue
			}
			s, err := media.ParseSPS(nal)
			if err != nil {
				return fmt.Errorf("frame %d: %w", p.Frames, err)
			}
			if !seen {
				p.Width, p.Height = s.Width, s.Height
			}
			cur, seen = s, true
		}
		if !hasPTS {
			return nil
		}
		if !seen {
			return fmt.Errorf("frame %d comes before any H.264 SPS: its size is unknown", p.Frames)
		}
		p.Frames++
		p.Pixels += uint64(cur.Width) * uint64(cur.Height)
		return nil
	})
	if err != nil {
		return Picture{}, err
	}
	return p, nil
}
