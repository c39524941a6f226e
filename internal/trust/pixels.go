package trust

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
)

// Pixels counts what a set of renditions is billed for: width × height of
// each H.264 frame of every transcoded rendition (the source rendition is
// a remux and costs nothing), the sizes read from the bytes' own SPS, not
// from what a node says. Every role computes it the same way, so a
// receipt's pixel count can be checked by anyone.
func Pixels(rends []transcode.Rendition) (uint64, error) {
	var total uint64
	for _, r := range rends {
		if r.Profile.IsSource() {
			continue
		}
		pic, err := MeasurePicture(r.Data)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", r.Profile.Name, err)
		}
		total += pic.Pixels
	}
	return total, nil
}

// profileFPS is p's frame rate, 30 where it keeps the source's.
func profileFPS(p transcode.Profile) int {
	if p.FPS <= 0 {
		return 30
	}
	return p.FPS
}

// EstimatePixels is what a ladder should cost for a segment of duration d,
// for paying ahead: width × height × fps × seconds of each transcoded
// profile (30 fps where a profile keeps the source rate).
func EstimatePixels(ps []transcode.Profile, d time.Duration) uint64 {
	var total float64
	for _, p := range ps {
		if p.IsSource() {
			continue
		}
		total += float64(p.Width) * float64(p.Height) * float64(profileFPS(p)) * d.Seconds()
	}
	return uint64(total)
}

// renditionHashes is RenditionHash of each rendition, in order.
func renditionHashes(rends []transcode.Rendition) []common.Hash {
	out := make([]common.Hash, len(rends))
	for i, r := range rends {
		out[i] = RenditionHash(r.Data)
	}
	return out
}

// RenditionHash is what receipts and results name a rendition by: SHA-256
// of its bytes. The source segment is named by keccak256 (as Livepeer
// names segments); renditions, hashed again at every role and together
// about twice the source's size, use SHA-256, which runs about 4.7 times
// faster than keccak256 on this class of CPU (BENCHMARKS.md).
func RenditionHash(b []byte) common.Hash { return sha256.Sum256(b) }

// ProfilesHash is keccak256 of the profiles' names, sizes, rates and
// bitrates in order: what a signed segment commits the broadcaster to
// having asked for.
func ProfilesHash(ps []transcode.Profile) common.Hash {
	var b bytes.Buffer
	for _, p := range ps {
		fmt.Fprintf(&b, "%s:%dx%d@%d/%d;", p.Name, p.Width, p.Height, p.FPS, p.Bitrate)
	}
	return sign.Keccak(b.Bytes())
}

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
