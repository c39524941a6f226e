package media

import "errors"

// errBitsExhausted is returned by bitReader when a read runs past the end of
// the RBSP; parsers wrap it into their own sentinel error.
var errBitsExhausted = errors.New("bitstream exhausted")

// errGolombTooLong is returned when an Exp-Golomb code has more than 31
// leading zero bits, which no H.264 syntax element needs.
var errGolombTooLong = errors.New("exp-golomb code too long")

// unescapeRBSP removes the emulation prevention bytes (the 0x03 in every
// 0x000003 sequence, H.264 §7.4.1) so the payload can be read bit by bit.
// It returns b itself when there is nothing to remove.
func unescapeRBSP(b []byte) []byte {
	first := -1
	for i := 2; i < len(b); i++ {
		if b[i] == 3 && b[i-1] == 0 && b[i-2] == 0 {
			first = i
			break
		}
	}
	if first < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// bitReader reads big-endian bits and Exp-Golomb codes (H.264 §9.1) from an
// RBSP that has already been unescaped.
type bitReader struct {
	buf []byte
	pos int // in bits
}

// u reads n ≤ 32 bits as an unsigned integer.
func (r *bitReader) u(n int) (uint32, error) {
	if n == 0 {
		return 0, nil
	}
	if r.pos+n > len(r.buf)*8 {
		return 0, errBitsExhausted
	}
	var v uint32
	for range n {
		bit := r.buf[r.pos/8] >> (7 - uint(r.pos%8)) & 1
		v = v<<1 | uint32(bit)
		r.pos++
	}
	return v, nil
}

// flag reads one bit as a boolean.
func (r *bitReader) flag() (bool, error) {
	v, err := r.u(1)
	return v == 1, err
}

// ue reads an unsigned Exp-Golomb code, ue(v).
func (r *bitReader) ue() (uint32, error) {
	zeros := 0
	for {
		b, err := r.u(1)
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			return 0, errGolombTooLong
		}
	}
	rest, err := r.u(zeros)
	if err != nil {
		return 0, err
	}
	return uint32((uint64(1)<<zeros - 1) + uint64(rest)), nil
}

// se reads a signed Exp-Golomb code, se(v) (H.264 §9.1.1).
func (r *bitReader) se() (int32, error) {
	k, err := r.ue()
	if err != nil {
		return 0, err
	}
	v := int64(k+1) / 2
	if k%2 == 0 {
		v = -v
	}
	return int32(v), nil
}
