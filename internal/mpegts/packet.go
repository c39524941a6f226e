package mpegts

import "slices"

// Transport packet writing (§2.4.3.2, §2.4.3.4): header, adaptation field
// with PCR, random_access_indicator and stuffing, and payload.

// adaptation holds what the first packet of a PES announces in its
// adaptation field.
type adaptation struct {
	randomAccess bool
	hasPCR       bool
	pcr          uint64 // 27 MHz-derived base in 90 kHz ticks; the extension is always 0
}

// size is the adaptation field's length in bytes, including its length byte,
// or 0 when none is needed.
func (a adaptation) size() int {
	switch {
	case a.hasPCR:
		return 2 + 6
	case a.randomAccess:
		return 2
	}
	return 0
}

// flags is the adaptation field's flag byte.
func (a adaptation) flags() byte {
	var f byte
	if a.randomAccess {
		f |= 0x40
	}
	if a.hasPCR {
		f |= 0x10
	}
	return f
}

// appendPCR appends program_clock_reference_base (33 bits), 6 reserved bits
// and a zero 9-bit extension (§2.4.3.5).
func appendPCR(b []byte, base uint64) []byte {
	base &= tsMask
	return append(b, byte(base>>25), byte(base>>17), byte(base>>9), byte(base>>1),
		byte(base&1)<<7|0x7E, 0x00)
}

// chunkReader copies bytes out of a list of slices without joining them, so
// a frame's NAL units go from the caller's buffers straight into packets.
type chunkReader struct {
	chunks [][]byte
	left   int
}

func newChunkReader(chunks [][]byte) chunkReader {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	return chunkReader{chunks: chunks, left: n}
}

// read fills dst entirely; the caller never asks for more than left.
func (r *chunkReader) read(dst []byte) {
	r.left -= len(dst)
	for len(dst) > 0 {
		n := copy(dst, r.chunks[0])
		dst = dst[n:]
		if n == len(r.chunks[0]) {
			r.chunks = r.chunks[1:]
		} else {
			r.chunks[0] = r.chunks[0][n:]
		}
	}
}

// appendPES appends the packets carrying one PES (header and payload given
// as chunks) on pid. The first packet has payload_unit_start_indicator set
// and carries af; the last is padded with adaptation-field stuffing, the
// only stuffing PES packets may use (§2.4.3.5).
func appendPES(out []byte, pid uint16, cc *uint8, af adaptation, chunks [][]byte) []byte {
	r := newChunkReader(chunks)
	for first := true; first || r.left > 0; first = false {
		afLen := 0
		if first {
			afLen = af.size()
		}
		payload := min(r.left, 184-afLen)
		afLen = 184 - payload // grows into stuffing on the last packet
		out = appendHeader(out, pid, first, afLen > 0, payload > 0, *cc)
		*cc = (*cc + 1) & 0x0F
		if afLen > 0 {
			a := adaptation{}
			if first {
				a = af
			}
			out = appendAdaptation(out, a, afLen)
		}
		start := len(out)
		out = slices.Grow(out, payload)[:start+payload]
		r.read(out[start:])
	}
	return out
}

// appendHeader appends the 4-byte packet header.
func appendHeader(out []byte, pid uint16, start, hasAF, hasPayload bool, cc uint8) []byte {
	b1 := byte(pid>>8) & 0x1F
	if start {
		b1 |= 0x40
	}
	var afc byte
	if hasAF {
		afc |= 0x20
	}
	if hasPayload {
		afc |= 0x10
	}
	return append(out, syncByte, b1, byte(pid), afc|cc&0x0F)
}

// appendAdaptation appends an adaptation field of exactly total bytes
// (length byte included), stuffed with 0xFF after the fields a holds.
func appendAdaptation(out []byte, a adaptation, total int) []byte {
	out = append(out, byte(total-1))
	if total == 1 {
		return out // a zero-length field: one byte of stuffing
	}
	start := len(out)
	out = append(out, a.flags())
	if a.hasPCR {
		out = appendPCR(out, a.pcr)
	}
	for len(out)-start < total-1 {
		out = append(out, 0xFF)
	}
	return out
}

// appendPCROnly appends a packet with only an adaptation field carrying a
// PCR. Packets without payload leave the continuity counter unchanged
// (§2.4.3.3), so cc is not advanced.
func appendPCROnly(out []byte, pid uint16, cc uint8, pcr uint64) []byte {
	out = appendHeader(out, pid, false, true, false, (cc-1)&0x0F)
	return appendAdaptation(out, adaptation{hasPCR: true, pcr: pcr}, 184)
}

// appendSection appends one PSI section in a single packet: a zero
// pointer_field, the section, and 0xFF filler (§2.4.4.1).
func appendSection(out []byte, pid uint16, cc *uint8, s []byte) []byte {
	out = appendHeader(out, pid, true, false, true, *cc)
	*cc = (*cc + 1) & 0x0F
	start := len(out)
	out = append(out, 0x00)
	out = append(out, s...)
	for len(out)-start < 184 {
		out = append(out, 0xFF)
	}
	return out
}
