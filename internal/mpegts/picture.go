package mpegts

import (
	"fmt"
	"time"

	"github.com/castnet/castnet/internal/media"
)

// nalSPS is H.264's sequence parameter set NAL unit type.
const nalSPS = 7

// Picture is what a segment's H.264 bytes hold: its frames (PES packets
// with a PTS), their size after cropping from the sequence parameter sets
// in the stream, and the order of their timestamps. It is measured from the
// bytes alone, with no word from whoever made them on their size.
type Picture struct {
	// Width and Height are the first SPS's size.
	Width, Height int
	Frames        int
	// Pixels is Σ width × height over the frames, each frame at the size
	// of the last SPS before it.
	Pixels uint64
	// OtherWidth and OtherHeight are the first SPS size that differs from
	// Width × Height: an SPS that switched the size mid-segment. Both are 0
	// when every SPS agrees.
	OtherWidth, OtherHeight int
	// Unordered counts frames whose PTS is not after the one before it on
	// the 33-bit clock (repeated or reordered frames: B-frames, or a
	// segment's frames sent twice).
	Unordered int
}

// Resized reports whether an SPS in the segment changed the picture size.
func (p Picture) Resized() bool { return p.OtherWidth != 0 || p.OtherHeight != 0 }

// MeasureH264 reads a segment's H.264 frames by walking its TS packets
// without assembling them (ScanH264Frames): each video PES with a PTS is a
// frame, at the size of the last SPS seen in the parameter sets before a
// frame's first slice. A frame before any SPS, an SPS that does not parse,
// or a broken packet is an error.
func MeasureH264(ts []byte) (Picture, error) {
	m := pictureMeter{}
	if err := ScanH264Frames(ts, m.frame); err != nil {
		return Picture{}, err
	}
	return m.p, nil
}

// pictureMeter is MeasureH264's state between frames.
type pictureMeter struct {
	p       Picture
	cur     media.SPSInfo
	seen    bool
	lastPTS time.Duration
	timed   bool // lastPTS is set
}

func (m *pictureMeter) frame(f ScanFrame) error {
	if err := m.params(f.Head); err != nil {
		return err
	}
	if !f.HasPTS {
		return nil
	}
	if !m.seen {
		return fmt.Errorf("frame %d comes before any H.264 SPS: its size is unknown", m.p.Frames)
	}
	if m.timed && !ptsAfter(f.PTS, m.lastPTS) {
		m.p.Unordered++
	}
	m.lastPTS, m.timed = f.PTS, true
	m.p.Frames++
	m.p.Pixels += uint64(m.cur.Width) * uint64(m.cur.Height)
	return nil
}

// params reads the SPSs before a frame's first slice.
func (m *pictureMeter) params(head []byte) error {
	for _, nal := range media.SplitAnnexB(head) {
		t := media.NALUType(nal)
		if t >= 1 && t <= 5 {
			return nil // the first slice: parameter sets come before it
		}
		if t != nalSPS {
			continue
		}
		s, err := media.ParseSPS(nal)
		if err != nil {
			return fmt.Errorf("frame %d: %w", m.p.Frames, err)
		}
		switch {
		case !m.seen:
			m.p.Width, m.p.Height = s.Width, s.Height
		case !m.p.Resized() && (s.Width != m.p.Width || s.Height != m.p.Height):
			m.p.OtherWidth, m.p.OtherHeight = s.Width, s.Height
		}
		m.cur, m.seen = s, true
	}
	return nil
}

// ptsAfter reports whether a is later than b on the 33-bit 90 kHz clock:
// less than half its period ahead.
func ptsAfter(a, b time.Duration) bool {
	d := (Ticks(a) - Ticks(b)) & tsMask
	return d != 0 && d < 1<<32
}
