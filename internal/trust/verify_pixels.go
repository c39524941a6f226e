package trust

import (
	"github.com/castnet/castnet/internal/mpegts"
)

// Picture is what a rendition's bytes hold: its H.264 frames (PES packets
// with a PTS, as Pixels counts them), their size after cropping from the
// sequence parameter sets in the stream, and the order of their timestamps
// (mpegts.Picture).
type Picture = mpegts.Picture

// MeasurePicture reads a rendition's MPEG-TS bytes: the billable pixels
// from the bytes alone, with no word from the transcoder on its size
// (mpegts.MeasureH264). A frame before any SPS, an SPS that does not parse,
// or a broken packet is an error.
func MeasurePicture(ts []byte) (Picture, error) { return mpegts.MeasureH264(ts) }
