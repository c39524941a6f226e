package transcode

import (
	"math"
	"slices"
)

// Ladder picks the renditions for a source of srcW x srcH: the passthrough
// source first, then every profile strictly shorter than the source, tallest
// first. Rungs at or above the source height are dropped because upscaling
// spends bits without adding detail, and a rung equal to the source is
// already served by the passthrough. Source profiles in the input are
// ignored (the passthrough is always added exactly once). When the source
// height is unknown (0), every rung is kept.
func Ladder(profiles []Profile, srcW, srcH int) []Profile {
	out := []Profile{SourceProfile()}
	var rungs []Profile
	for _, p := range profiles {
		if p.IsSource() || (srcH > 0 && p.Height >= srcH) {
			continue
		}
		rungs = append(rungs, p)
	}
	// Stable, so equal heights keep their configured order (say, two
	// bitrates at one size).
	slices.SortStableFunc(rungs, func(a, b Profile) int { return b.Height - a.Height })
	return append(out, rungs...)
}

// SessionLadder picks a session's renditions once, from the source's first
// size, so that they never change while viewers play them: every profile
// shorter than the source or than the tallest profile, whichever is taller.
// A publisher that starts small and ramps up (a browser does, as its
// bandwidth estimate grows) thus still gets every rung below the top one,
// which the source rendition covers; while the source is smaller than a
// rung, FitSize keeps that rung at the source's size, never upscaled.
func SessionLadder(profiles []Profile, srcW, srcH int) []Profile {
	top := 0
	for _, p := range profiles {
		if !p.IsSource() {
			top = max(top, p.Height)
		}
	}
	return Ladder(profiles, srcW, max(srcH, top))
}

// FitSize returns the output size of p for a srcW x srcH source: the largest
// size inside p's Width x Height box with the source's aspect ratio, both
// sides even (4:2:0) and at least 2, and never larger than the source
// (upscaling spends bits without adding detail). The caller learns the exact
// size, for the HLS RESOLUTION attribute (RFC 8216 section 4.3.4.2),
// without probing the output. The source profile keeps the source size;
// with an unknown source size the box itself is returned.
func FitSize(p Profile, srcW, srcH int) (w, h int) {
	if p.IsSource() {
		return srcW, srcH
	}
	if srcW <= 0 || srcH <= 0 {
		return p.Width, p.Height
	}
	w, h = fitBox(p.Width, p.Height, srcW, srcH)
	if srcW <= w && srcH <= h {
		return max(2, srcW&^1), max(2, srcH&^1)
	}
	return w, h
}

// fitBox is the largest even size inside bw x bh with the aspect of sw x sh.
func fitBox(bw, bh, sw, sh int) (w, h int) {
	// Compare the aspect ratios in integers: bw/bh <= sw/sh means the
	// width is the binding side.
	if int64(bw)*int64(sh) <= int64(bh)*int64(sw) {
		return bw, evenAtLeast2(float64(bw) * float64(sh) / float64(sw))
	}
	return evenAtLeast2(float64(bh) * float64(sw) / float64(sh)), bh
}

// evenAtLeast2 rounds x to the nearest even integer, never below 2. Since the
// box sides are even, rounding to the nearest even number never leaves the
// box.
func evenAtLeast2(x float64) int {
	return max(2, 2*int(math.Round(x/2)))
}

// gopFrames converts a GOP in seconds to a whole number of frames at fps.
func gopFrames(gop float64, fps int) int {
	return int(math.Round(gop * float64(fps)))
}
