// Package bitwrite writes H.264 bitstreams (ITU-T H.264 §7.2): the
// inverse of the parsers in internal/media, for tests that need a
// parameter set with given fields without encoding video.
package bitwrite

// Writer appends bits, most significant first.
type Writer struct {
	buf []byte
	n   int
}

// U writes v in n bits, u(n).
func (w *Writer) U(n int, v uint64) *Writer {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>uint(i)&1 == 1 {
			w.buf[len(w.buf)-1] |= 0x80 >> uint(w.n%8)
		}
		w.n++
	}
	return w
}

// Flag writes one bit.
func (w *Writer) Flag(b bool) *Writer {
	if b {
		return w.U(1, 1)
	}
	return w.U(1, 0)
}

// UE writes unsigned Exp-Golomb, ue(v) (§9.1).
func (w *Writer) UE(v uint64) *Writer {
	n := 0
	for (v+1)>>uint(n+1) != 0 {
		n++
	}
	return w.U(n, 0).U(n+1, v+1)
}

// SE writes signed Exp-Golomb, se(v) (§9.1.1).
func (w *Writer) SE(v int64) *Writer {
	if v > 0 {
		return w.UE(uint64(2*v - 1))
	}
	return w.UE(uint64(-2 * v))
}

// RBSP ends the bitstream with rbsp_trailing_bits (§7.3.2.11) and returns it.
func (w *Writer) RBSP() []byte {
	w.U(1, 1)
	for w.n%8 != 0 {
		w.U(1, 0)
	}
	return w.buf
}

// Escape inserts emulation prevention bytes (§7.4.1): a 0x03 after every
// two zero bytes followed by a byte ≤ 3.
func Escape(rbsp []byte) []byte {
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
