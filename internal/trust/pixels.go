package trust

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"

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

// Billing tolerances: how far an honest encoder's renditions may go past
// what the job asked for. The fps filter may emit a frame more at either end
// of a segment, and a segment's duration is the segmenter's, rounded (the
// same slack netpool's media check gives a rendition's span).
const (
	billSlackFrames = 2
	billSlackRatio  = 0.10
	billMinSlack    = 250 * time.Millisecond
)

// BillablePixels is what a broadcaster pays for renditions made for job, a
// segment of duration d: Pixels, once each transcoded rendition is shown to
// be what was asked. Every frame is at the profile's FitSize for the job's
// source (an SPS of another size, first or mid-segment, fails); timestamps
// strictly increase (castnet's encoder makes no B-frames, so a repeated or
// reordered frame is a forgery); there are at most fps × (d + slack) + 2
// frames; and the total stays within the ladder's estimate for that long.
// An orchestrator signs for whatever bytes it sends: what it can bill stays
// tied to the job, not to the bytes.
func BillablePixels(job transcode.Job, d time.Duration, rends []transcode.Rendition) (uint64, error) {
	var total uint64
	for _, r := range rends {
		if r.Profile.IsSource() {
			continue
		}
		px, err := billable(job, d, r)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", r.Profile.Name, err)
		}
		total += px
	}
	if limit := pixelCap(job.Profiles, d); total > limit {
		return 0, fmt.Errorf("%d pixels, above the %d the ladder allows for %v", total, limit, d)
	}
	return total, nil
}

// billable is one transcoded rendition's pixels, checked against its
// profile.
func billable(job transcode.Job, d time.Duration, r transcode.Rendition) (uint64, error) {
	pic, err := MeasurePicture(r.Data)
	if err != nil {
		return 0, err
	}
	w, h := transcode.FitSize(r.Profile, job.SourceWidth, job.SourceHeight)
	limit := maxFrames(r.Profile, d)
	switch {
	case pic.Width != w || pic.Height != h:
		return 0, fmt.Errorf("its SPS says %dx%d, the job asked for %dx%d", pic.Width, pic.Height, w, h)
	case pic.Resized():
		return 0, fmt.Errorf("an SPS switches it to %dx%d mid-segment, the job asked for %dx%d",
			pic.OtherWidth, pic.OtherHeight, w, h)
	case pic.Unordered > 0:
		return 0, fmt.Errorf("%d of its %d frames repeat or go back in time", pic.Unordered, pic.Frames)
	case pic.Frames > limit:
		return 0, fmt.Errorf("%d frames, above the %d that %d fps for %v allows", pic.Frames, limit, profileFPS(r.Profile), d)
	}
	return pic.Pixels, nil
}

// billSlack is how much longer than d a segment's renditions may run.
func billSlack(d time.Duration) time.Duration {
	return max(billMinSlack, time.Duration(float64(d)*billSlackRatio))
}

// maxFrames is the most frames a rendition of p may hold for a segment of
// duration d.
func maxFrames(p transcode.Profile, d time.Duration) int {
	return int(float64(profileFPS(p))*(d+billSlack(d)).Seconds()) + billSlackFrames
}

// pixelCap is the most a segment of duration d may be billed: the ladder's
// estimate with the slack, at the profiles' full sizes (fitted sizes never
// exceed them).
func pixelCap(ps []transcode.Profile, d time.Duration) uint64 {
	limit := EstimatePixels(ps, d+billSlack(d))
	for _, p := range ps {
		if !p.IsSource() {
			limit += uint64(billSlackFrames) * uint64(p.Width) * uint64(p.Height)
		}
	}
	return limit
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
