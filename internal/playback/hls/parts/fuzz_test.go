package parts

import (
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/playback/hls"
)

// FuzzCutter writes arbitrary bytes to a Cutter in chunks the first byte
// chooses. Invariants: nothing panics; no part has a negative duration;
// and the parts are the whole packets it accepted, in order, with the
// table copies inserted and the PAT and PMT counters moved as the Cutter
// doc says, every PID's counter running on across the parts
// (checkAgainstInput) wherever the input's did.
func FuzzCutter(f *testing.F) {
	for _, m := range []media{{seconds: 1, fps: 25, audio: true}, {seconds: 0.6, audio: true}, {seconds: 0.5, fps: 10, noRAI: true}} {
		seg := segment(f, m)
		f.Add(append([]byte{0}, seg...))
		f.Add(append([]byte{7}, seg[:len(seg)/2+3]...))
	}
	f.Add([]byte{1, 0x47, 0x40, 0, 0x10, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		size, in := int(b[0])%200+1, b[1:]
		var got []hls.Part
		c := NewCutter(500*time.Millisecond, func(p hls.Part) { got = append(got, p) })
		consumed := 0
		for rest := in; len(rest) > 0; {
			n, err := c.Write(rest[:min(size, len(rest))])
			consumed += n
			if err != nil {
				break
			}
			rest = rest[n:]
		}
		_ = c.Close()
		for _, p := range got {
			if p.Duration < 0 {
				t.Fatalf("a part of %v", p.Duration)
			}
		}
		whole := in[:consumed/mpegts.PacketSize*mpegts.PacketSize]
		if continuous(whole) {
			checkAgainstInput(t, c, got, whole)
		} else {
			checkBytes(t, c, got, whole)
		}
	})
}

// continuous says whether the input's own counters run on, so the parts'
// must too.
func continuous(b []byte) bool {
	ok := true
	last := map[int]byte{}
	for off := 0; off+mpegts.PacketSize <= len(b) && ok; off += mpegts.PacketSize {
		p := b[off:]
		if p[3]&0x10 == 0 {
			continue
		}
		pid, cc := int(p[1]&0x1F)<<8|int(p[2]), p[3]&0x0F
		if prev, seen := last[pid]; seen && cc != (prev+1)&0x0F {
			ok = false
		}
		last[pid] = cc
	}
	return ok
}
