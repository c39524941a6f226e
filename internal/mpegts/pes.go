package mpegts

import (
	"encoding/binary"
	"fmt"
	"time"
)

// nalAUD is the H.264 access unit delimiter's nal_unit_type (H.264 Table 7-1).
const nalAUD = 9

// appendPESHeader appends a PES header (§2.4.3.6) with a PTS, and a DTS when
// it differs from the PTS. payloadLen is the number of bytes that follow the
// header; 0 writes an unbounded PES_packet_length.
func appendPESHeader(b []byte, streamID byte, payloadLen int, pts, dts time.Duration) []byte {
	hasDTS := Ticks(dts) != Ticks(pts)
	hdrData := 5
	if hasDTS {
		hdrData = 10
	}
	length := 0
	if payloadLen > 0 {
		length = 3 + hdrData + payloadLen
	}
	b = append(b, 0x00, 0x00, 0x01, streamID)
	b = binary.BigEndian.AppendUint16(b, uint16(length))
	// '10', not scrambled, data_alignment_indicator set: every PES starts
	// with an access unit.
	b = append(b, 0x84)
	if hasDTS {
		b = append(b, 0xC0, byte(hdrData))
		b = appendTimestamp(b, 0x3, Ticks(pts))
		return appendTimestamp(b, 0x1, Ticks(dts))
	}
	b = append(b, 0x80, byte(hdrData))
	return appendTimestamp(b, 0x2, Ticks(pts))
}

// appendTimestamp appends a 33-bit PTS or DTS in its 5-byte form: a 4-bit
// prefix, then 3, 15 and 15 bits each followed by a marker bit.
func appendTimestamp(b []byte, prefix byte, ts uint64) []byte {
	return append(b,
		prefix<<4|byte(ts>>29)&0x0E|1,
		byte(ts>>22), byte(ts>>14)|1,
		byte(ts>>7), byte(ts<<1)|1)
}

// readTimestamp decodes the 5-byte form appendTimestamp writes.
func readTimestamp(b []byte) uint64 {
	return uint64(b[0]>>1&0x07)<<30 | uint64(b[1])<<22 | uint64(b[2]>>1)<<15 |
		uint64(b[3])<<7 | uint64(b[4]>>1)
}

// pesHeader is what parsePES reads from a PES header.
type pesHeader struct {
	streamID       byte
	pts, dts       uint64
	hasPTS, hasDTS bool
	payload        []byte
}

// parsePES splits a complete PES packet into its header fields and payload.
func parsePES(b []byte) (pesHeader, error) {
	var h pesHeader
	if len(b) < 6 || b[0] != 0 || b[1] != 0 || b[2] != 1 {
		return h, fmt.Errorf("%w: PES without start code prefix", ErrCorrupt)
	}
	h.streamID = b[3]
	if !hasOptionalHeader(h.streamID) {
		h.payload = b[6:]
		return h, nil
	}
	if len(b) < 9 || b[6]&0xC0 != 0x80 {
		return h, fmt.Errorf("%w: bad PES header", ErrCorrupt)
	}
	flags, n := b[7]>>6, int(b[8])
	if 9+n > len(b) {
		return h, fmt.Errorf("%w: PES_header_data_length %d overruns packet", ErrCorrupt, n)
	}
	opt := b[9 : 9+n]
	if flags&0x2 != 0 {
		if len(opt) < 5 {
			return h, fmt.Errorf("%w: PES header too short for PTS", ErrCorrupt)
		}
		h.pts, h.hasPTS = readTimestamp(opt), true
	}
	if flags == 0x3 {
		if len(opt) < 10 {
			return h, fmt.Errorf("%w: PES header too short for DTS", ErrCorrupt)
		}
		h.dts, h.hasDTS = readTimestamp(opt[5:]), true
	}
	h.payload = b[9+n:]
	return h, nil
}

// hasOptionalHeader reports whether PES packets of a stream_id carry the
// optional header with flags and timestamps (§2.4.3.7: all but padding,
// private_stream_2 and a few system streams).
func hasOptionalHeader(id byte) bool {
	switch id {
	case 0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF:
		return false
	}
	return true
}

// startCodeLen returns 3 or 4 when b begins with an Annex B start code
// followed by at least one byte, and 0 otherwise.
func startCodeLen(b []byte) int {
	switch {
	case len(b) > 4 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 1:
		return 4
	case len(b) > 3 && b[0] == 0 && b[1] == 0 && b[2] == 1:
		return 3
	}
	return 0
}
