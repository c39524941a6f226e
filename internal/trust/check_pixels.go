package trust

import (
	"fmt"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/transcode"
)

// Billing tolerances: how far an honest encoder's renditions may go past
// what the job asked for. The fps filter may emit a frame more at either end
// of a segment, and a segment's duration is the segmenter's, rounded (the
// same slack netpool's media check gives a rendition's span).
const (
	billSlackFrames = 2
	billSlackRatio  = 0.10
	billMinSlack    = 250 * time.Millisecond
)

// pixels: each transcoded rendition's H.264 is measured (the source
// rendition is a remux and costs nothing), and the receipt and the result
// claim the total, as Pixels counts it.
func (k *checker) pixels() {
	k.pics = make([]*Picture, len(k.c.Renditions))
	var total uint64
	all := true
	for i, r := range k.c.Renditions {
		pic, ok := k.measure(r)
		switch {
		case !ok:
			all = false
		case pic != nil:
			k.pics[i] = pic
			total += pic.Pixels
			k.measures = append(k.measures, fmt.Sprintf("%s %dx%d × %d frames", r.Profile.Name, pic.Width, pic.Height, pic.Frames))
		}
	}
	if all {
		k.counted = &total
		k.claims(total)
		return
	}
	if rc, res := k.c.Receipt.Record.Pixels, k.c.Result.Record.Pixels; k.rc && k.res && rc != res {
		k.fail("the receipt and the result claim other pixels", "pixels: the receipt claims %d, the transcode result %d", rc, res)
	}
}

// measure reads r's picture: nil for the source rendition; false when its
// bytes were not read or do not measure.
func (k *checker) measure(r Received) (*Picture, bool) {
	switch {
	case r.Unread:
		return nil, false
	case r.Profile.IsSource():
		return nil, true
	}
	pic, err := MeasurePicture(r.Data)
	if err != nil {
		k.fail(ruleCounting, "%s: counting pixels: %v", r.label(), err)
		return nil, false
	}
	return &pic, true
}

// claims checks the pixels the receipt and the result claim against the
// total the renditions hold.
func (k *checker) claims(total uint64) {
	how := strings.Join(k.measures, " + ")
	if how == "" {
		how = "no billed rendition"
	}
	for _, c := range []struct {
		ok      bool
		what    string
		claimed uint64
	}{{k.rc, "receipt", k.c.Receipt.Record.Pixels}, {k.res, "transcode result", k.c.Result.Record.Pixels}} {
		if c.ok && c.claimed != total {
			k.fail(fmt.Sprintf("it claims %d pixels, the renditions hold %d", c.claimed, total),
				"pixels: the %s claims %d, the renditions hold %d (%s)", c.what, c.claimed, total, how)
		}
	}
}

// billing: what the pixels bill for is what the job asked. An
// orchestrator signs for whatever bytes it sends: what it can bill stays
// tied to the job, not to the bytes. Each transcoded rendition is checked
// by billable, and the total stays within the ladder's estimate for the
// segment's duration.
func (k *checker) billing() {
	job, d := k.c.Job, k.c.Duration
	if job == nil {
		return
	}
	for i, pic := range k.pics {
		if pic == nil {
			continue
		}
		if err := billable(job, d, k.c.Renditions[i].Profile, *pic); err != nil {
			k.fail(ruleBilling, "%s: %v", k.c.Renditions[i].label(), err)
		}
	}
	if k.counted == nil || d <= 0 {
		return
	}
	if limit := pixelCap(job.Profiles, d); *k.counted > limit {
		k.fail(ruleBilling, "%d pixels, above the %d the ladder allows for %v", *k.counted, limit, d)
	}
}

// billable checks one transcoded rendition's picture against its profile
// p, for job, a segment of duration d (0: unknown, and then its frames are
// not counted against a limit). Every frame is at the profile's FitSize for
// the job's source (an SPS of another size, first or mid-segment, fails);
// timestamps strictly increase (castnet's encoder makes no B-frames, so a
// repeated or reordered frame is a forgery); and there are at most fps × (d
// + slack) + 2 frames.
func billable(job *transcode.Job, d time.Duration, p transcode.Profile, pic Picture) error {
	w, h := transcode.FitSize(p, job.SourceWidth, job.SourceHeight)
	limit := maxFrames(p, d)
	switch {
	case pic.Width != w || pic.Height != h:
		return fmt.Errorf("its SPS says %dx%d, the job asked for %dx%d", pic.Width, pic.Height, w, h)
	case pic.Resized():
		return fmt.Errorf("an SPS switches it to %dx%d mid-segment, the job asked for %dx%d",
			pic.OtherWidth, pic.OtherHeight, w, h)
	case pic.Unordered > 0:
		return fmt.Errorf("%d of its %d frames repeat or go back in time", pic.Unordered, pic.Frames)
	case d > 0 && pic.Frames > limit:
		return fmt.Errorf("%d frames, above the %d that %d fps for %v allows", pic.Frames, limit, profileFPS(p), d)
	}
	return nil
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
