package publish

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultSwitchEvery is how long each of Config.Sizes lasts when
// Config.SwitchEvery is zero.
const DefaultSwitchEvery = 4 * time.Second

// opusPacket is the duration of the Opus packets Prepare encodes.
const opusPacket = 20 * time.Millisecond

// Size is a picture size in pixels.
type Size struct{ Width, Height int }

// String formats s as WIDTHxHEIGHT, the form ParseSizes reads.
func (s Size) String() string { return fmt.Sprintf("%dx%d", s.Width, s.Height) }

// ParseSizes reads a comma-separated list of WIDTHxHEIGHT sizes, such as
// "1280x720,640x360,1280x720". Each dimension must be positive and even,
// as 4:2:0 video needs.
func ParseSizes(list string) ([]Size, error) {
	var sizes []Size
	for item := range strings.SplitSeq(list, ",") {
		s, err := parseSize(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("%w: size %q: %w", ErrConfig, item, err)
		}
		sizes = append(sizes, s)
	}
	return sizes, nil
}

func parseSize(item string) (Size, error) {
	w, h, ok := strings.Cut(item, "x")
	if !ok {
		return Size{}, fmt.Errorf("want WIDTHxHEIGHT, e.g. 1280x720")
	}
	s := Size{Width: atoiOr(w, -1), Height: atoiOr(h, -1)}
	return s, s.check()
}

func atoiOr(s string, bad int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return bad
	}
	return n
}

// maxDimension bounds a test pattern side; H.264 level 6.2 stops near it.
const maxDimension = 8192

func (s Size) check() error {
	for _, d := range []int{s.Width, s.Height} {
		if d <= 0 || d > maxDimension || d%2 != 0 {
			return fmt.Errorf("want even dimensions from 2 to %d", maxDimension)
		}
	}
	return nil
}

// switching reports whether the test pattern changes size mid-stream.
func (c Config) switching() bool { return len(c.Sizes) > 1 }

// switchStep is the finest SwitchEvery at fps: each size must last whole
// video frames (1/fps s) and whole Opus packets (1/50 s), so that the
// splices and the loop point fall between frames of both tracks. The
// smallest common multiple of 1/fps and 1/50 is 1/gcd(fps, 50): 100 ms
// at 30 fps, 40 ms at 25.
func switchStep(fps int) time.Duration {
	a, b := fps, int(time.Second/opusPacket)
	for b != 0 {
		a, b = b, a%b
	}
	return time.Second / time.Duration(a)
}

// checkSizes validates the resolution switching settings of a Config that
// has its defaults.
func (c Config) checkSizes() error {
	if len(c.Sizes) == 0 {
		return nil
	}
	if !c.TestPattern {
		return fmt.Errorf("%w: switching sizes needs the test pattern", ErrConfig)
	}
	for _, s := range c.Sizes {
		if err := s.check(); err != nil {
			return fmt.Errorf("%w: size %s: %w", ErrConfig, s, err)
		}
	}
	if step := switchStep(c.FPS); c.switching() && c.SwitchEvery%step != 0 {
		return fmt.Errorf("%w: switch interval %s must be a multiple of %s at %d fps (whole video frames and 20 ms audio packets)",
			ErrConfig, c.SwitchEvery, step, c.FPS)
	}
	return nil
}

// withSizeDefaults makes a single size the test pattern's size and gives
// a switching pattern its interval.
func (c Config) withSizeDefaults() Config {
	if len(c.Sizes) == 1 {
		c.Width, c.Height = c.Sizes[0].Width, c.Sizes[0].Height
	}
	if c.switching() && c.SwitchEvery == 0 {
		c.SwitchEvery = DefaultSwitchEvery
	}
	return c
}

// switchCycle is how long the whole sequence of sizes lasts, the length of
// the looped clip.
func (c Config) switchCycle() time.Duration {
	return time.Duration(len(c.Sizes)) * c.SwitchEvery
}

// switchingArgs builds the ffmpeg command line for a test pattern that
// changes size the way a browser's encoder does under congestion: one
// testsrc2 picture, so that its clock runs on across every switch, cut
// into one piece per size, each scaled and encoded on its own. libx264
// cannot change size within one encode, and each piece begins with its
// own SPS, PPS and IDR, so the pieces splice into one stream at IDRs. A
// piece's bitrate is cfg.Bitrate scaled by its share of the largest
// size's pixels, as a congested sender lowers both together.
func switchingArgs(cfg Config) []string {
	cycle := formatSeconds(cfg.switchCycle())
	src := largest(cfg.Sizes)
	args := commonArgs()
	args = append(args,
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d:duration=%s", src, cfg.FPS, cycle),
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000:duration="+cycle,
		"-filter_complex", switchFilter(cfg),
	)
	for i, s := range cfg.Sizes {
		piece := cfg
		piece.Bitrate = scaledBitrate(cfg.Bitrate, s, src)
		label := fmt.Sprintf("[v%d]", i)
		args = append(args, videoOutArgs(piece, label, pipeTarget(i))...)
	}
	return append(args, audioOutArgs("1:a:0", pipeTarget(len(cfg.Sizes)))...)
}

// switchFilter splits the pattern into one branch per size; branch i keeps
// frames [i·n, (i+1)·n), restarts its timestamps at zero and scales:
// "[0:v]split=3[s0][s1][s2];[s0]trim=start_frame=0:end_frame=120,...[v0];…".
func switchFilter(cfg Config) string {
	n := int(cfg.SwitchEvery * time.Duration(cfg.FPS) / time.Second)
	var b strings.Builder
	fmt.Fprintf(&b, "[0:v]split=%d", len(cfg.Sizes))
	for i := range cfg.Sizes {
		fmt.Fprintf(&b, "[s%d]", i)
	}
	for i, s := range cfg.Sizes {
		fmt.Fprintf(&b, ";[s%d]trim=start_frame=%d:end_frame=%d,setpts=PTS-STARTPTS,scale=%d:%d[v%d]",
			i, i*n, (i+1)*n, s.Width, s.Height, i)
	}
	return b.String()
}

// largest returns the size with the most pixels, the first of equals.
func largest(sizes []Size) Size {
	best := sizes[0]
	for _, s := range sizes[1:] {
		if s.pixels() > best.pixels() {
			best = s
		}
	}
	return best
}

func (s Size) pixels() int64 { return int64(s.Width) * int64(s.Height) }

// minSwitchBitrate is the floor of a scaled bitrate: the 30 kb/s below
// which WebRTC's congestion controller does not take a video stream.
const minSwitchBitrate = 30_000

// scaledBitrate is bitrate times s's share of top's pixels, but no less
// than minSwitchBitrate unless bitrate itself is less.
func scaledBitrate(bitrate int, s, top Size) int {
	scaled := int(int64(bitrate) * s.pixels() / top.pixels())
	return max(scaled, min(bitrate, minSwitchBitrate))
}
