package mpegtstest

// SPS returns a minimal Baseline H.264 sequence parameter set NAL unit
// (with its NAL header, without a start code) for a w × h picture (even
// sides), cropped from whole macroblocks: for tests that need a size read
// from the bytes (media.ParseSPS) without encoding video.
func SPS(w, h int) []byte {
	mbW, mbH := (w+15)/16, (h+15)/16
	var b bits
	b.u(8, 66).u(8, 0xC0).u(8, 40) // Baseline, constrained, level 4
	b.ue(0).ue(0).ue(2).ue(1)      // id, log2_max_frame_num−4, POC type 2, one ref
	b.u(1, 0).ue(uint64(mbW - 1)).ue(uint64(mbH - 1))
	b.u(1, 1).u(1, 1)                           // frame_mbs_only, direct_8x8_inference
	right, bottom := (mbW*16-w)/2, (mbH*16-h)/2 // 4:2:0 crops in units of 2
	if right == 0 && bottom == 0 {
		b.u(1, 0)
	} else {
		b.u(1, 1).ue(0).ue(uint64(right)).ue(0).ue(uint64(bottom))
	}
	b.u(1, 0) // no VUI
	return append([]byte{0x67}, escape(b.rbsp())...)
}

// bits writes an H.264 bitstream (§7.2).
type bits struct {
	buf []byte
	n   int
}

func (b *bits) u(n int, v uint64) *bits {
	for i := n - 1; i >= 0; i-- {
		if b.n%8 == 0 {
			b.buf = append(b.buf, 0)
		}
		if v>>uint(i)&1 == 1 {
			b.buf[len(b.buf)-1] |= 0x80 >> uint(b.n%8)
		}
		b.n++
	}
	return b
}

// ue writes Exp-Golomb (§9.1).
func (b *bits) ue(v uint64) *bits {
	n := 0
	for (v+1)>>uint(n+1) != 0 {
		n++
	}
	return b.u(n, 0).u(n+1, v+1)
}

// rbsp ends the bitstream with rbsp_trailing_bits (§7.3.2.11).
func (b *bits) rbsp() []byte {
	b.u(1, 1)
	for b.n%8 != 0 {
		b.u(1, 0)
	}
	return b.buf
}

// escape inserts emulation prevention bytes (§7.4.1).
func escape(rbsp []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range rbsp {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}
