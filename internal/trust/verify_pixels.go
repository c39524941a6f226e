package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io"

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
// from the bytes alone, with no word from the transcoder on its size. A
// frame before any SPS, or an SPS that does not parse, is an error, and
// so is any damage the demuxer reports.
func MeasurePicture(ts []byte) (Picture, error) {
	var (
		p    Picture
		cur  media.SPSInfo
		seen bool
	)
	d := mpegts.NewDemuxer(bytes.NewReader(ts))
	for {
		pes, err := d.Next()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return Picture{}, err
		}
		if pes.Codec != media.CodecH264 {
			continue
		}
		for _, nal := range media.SplitAnnexB(pes.Data) {
			if media.NALUType(nal) != nalSPS {
				continue
			}
			s, err := media.ParseSPS(nal)
			if err != nil {
				return Picture{}, fmt.Errorf("frame %d: %w", p.Frames, err)
			}
			if !seen {
				p.Width, p.Height = s.Width, s.Height
			}
			cur, seen = s, true
		}
		if !pes.HasPTS {
			continue
		}
		if !seen {
			return Picture{}, fmt.Errorf("frame %d comes before any H.264 SPS: its size is unknown", p.Frames)
		}
		p.Frames++
		p.Pixels += uint64(cur.Width) * uint64(cur.Height)
	}
}
