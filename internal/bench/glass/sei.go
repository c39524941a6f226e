package glass

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/media/bitwrite"
)

// The stamp is an H.264 SEI NAL unit (H.264 §7.3.2.3) holding one
// user_data_unregistered message (payloadType 5, §D.1.7): a 16-byte UUID
// that says the message is ours, then the wall-clock time the access unit
// was sent, in Unix nanoseconds, big-endian. Decoders ignore SEI messages
// they do not know, and castnet's relay, segmenter and the source
// rendition copy NAL units as they are, so the same stamp reaches WHEP
// viewers and HLS segments.
const (
	nalSEI          = 6
	seiUserDataUnrg = 5
	stampPayload    = 16 + 8
)

// stampUUID names castnet's glass-to-glass stamp (a random version-4 UUID
// chosen once). It has no two zero bytes in a row, so it never needs
// emulation prevention itself.
var stampUUID = [16]byte{0x9f, 0x3c, 0x2b, 0x1e, 0x7a, 0x4d, 0x4c, 0x58,
	0xb8, 0xe1, 0x2f, 0x0d, 0x6a, 0x5c, 0x4b, 0x3e}

// stampSEI builds the SEI NAL unit (without start code) stamping t.
func stampSEI(t time.Time) []byte {
	rbsp := make([]byte, 0, 3+stampPayload)
	rbsp = append(rbsp, seiUserDataUnrg, stampPayload)
	rbsp = append(rbsp, stampUUID[:]...)
	rbsp = binary.BigEndian.AppendUint64(rbsp, uint64(t.UnixNano()))
	rbsp = append(rbsp, 0x80) // rbsp_trailing_bits: the stop bit, then byte alignment
	// Emulation prevention (H.264 §7.4.1): a stamp whose nanoseconds hold
	// two zero bytes could otherwise contain a start code, and every
	// packetizer would cut the access unit there.
	return append([]byte{nalSEI}, bitwrite.Escape(rbsp)...)
}

// unescape removes emulation prevention bytes: the 03 of every 00 00 03
// (internal/media has its own, unexported, for parameter sets).
func unescape(ebsp []byte) []byte {
	if !bytes.Contains(ebsp, []byte{0, 0, 3}) {
		return ebsp
	}
	out := make([]byte, 0, len(ebsp))
	zeros := 0
	for _, b := range ebsp {
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// readStamp returns the send time of a stamp SEI NAL unit; false for any
// other NAL unit, another SEI, or bytes that do not parse. The bytes come
// from the network (RTP, HLS segments), so every length is checked.
func readStamp(nalu []byte) (time.Time, bool) {
	if len(nalu) < 2 || nalu[0]&0x1f != nalSEI {
		return time.Time{}, false
	}
	b := unescape(nalu[1:])
	for len(b) > 0 && b[0] != 0x80 { // 0x80 alone is the trailing bits
		typ, size, rest, ok := seiHeader(b)
		if !ok || size > len(rest) {
			return time.Time{}, false
		}
		if t, ok := stampOf(typ, rest[:size]); ok {
			return t, true
		}
		b = rest[size:]
	}
	return time.Time{}, false
}

// seiHeader reads a sei_message's payloadType and payloadSize (§7.3.2.3.1):
// each a run of 0xFF bytes adding 255, then a last byte.
func seiHeader(b []byte) (typ, size int, rest []byte, ok bool) {
	if typ, b, ok = seiNumber(b); !ok {
		return 0, 0, nil, false
	}
	size, b, ok = seiNumber(b)
	return typ, size, b, ok
}

// seiNumber reads one ff_byte-coded number, bounded so that no input can
// make it overflow.
func seiNumber(b []byte) (int, []byte, bool) {
	n := 0
	for i, c := range b {
		n += int(c)
		if c != 0xff {
			return n, b[i+1:], true
		}
		if n > 1<<20 {
			break
		}
	}
	return 0, nil, false
}

// stampOf reads one message's payload as our stamp.
func stampOf(typ int, payload []byte) (time.Time, bool) {
	if typ != seiUserDataUnrg || len(payload) < stampPayload || !bytes.Equal(payload[:16], stampUUID[:]) {
		return time.Time{}, false
	}
	ns := int64(binary.BigEndian.Uint64(payload[16:24]))
	if ns <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// findStamp returns the stamp of an access unit's NAL units, if it has one.
func findStamp(nalus [][]byte) (time.Time, bool) {
	for _, n := range nalus {
		if t, ok := readStamp(n); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// insertStamp returns the access unit with sei placed just before its
// first VCL NAL unit (types 1–5), which is where H.264 §7.4.1.2.3 lets SEI
// go: after any access unit delimiter, SPS and PPS. An access unit without
// a slice is returned unchanged.
func insertStamp(nalus [][]byte, sei []byte) [][]byte {
	for i, n := range nalus {
		if t := media.NALUType(n); t >= 1 && t <= 5 {
			out := make([][]byte, 0, len(nalus)+1)
			out = append(out, nalus[:i]...)
			out = append(out, sei)
			return append(out, nalus[i:]...)
		}
	}
	return nalus
}
