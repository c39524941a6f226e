package mpegts

import "fmt"

// Opus in MPEG-TS: each Opus packet in a PES is preceded by an
// opus_control_header (the ETSI Opus-in-TS mapping that ffmpeg implements):
// 11 bits of prefix 0x3FF, start_trim_flag, end_trim_flag,
// control_extension_flag, 2 reserved bits, then au_size coded as a run of
// 0xFF bytes plus a final byte below 0xFF, then the optional trims.

const (
	opusPrefix    = 0x7FE0 // the 11-bit prefix 0x3FF, shifted into a 16-bit word
	opusTrimStart = 0x10
	opusTrimEnd   = 0x08
	opusCtrlExt   = 0x04
)

// appendOpusControl appends a control header for an Opus packet of size
// bytes, without trims.
func appendOpusControl(b []byte, size int) []byte {
	b = append(b, opusPrefix>>8, opusPrefix&0xFF)
	for ; size >= 0xFF; size -= 0xFF {
		b = append(b, 0xFF)
	}
	return append(b, byte(size))
}

// SplitOpus returns the Opus packets in the payload of an Opus PES, with
// their control headers removed. The packets alias payload.
func SplitOpus(payload []byte) ([][]byte, error) {
	var out [][]byte
	for len(payload) > 0 {
		if len(payload) < 3 || int(payload[0])<<8|int(payload[1]&0xE0) != opusPrefix {
			return out, fmt.Errorf("%w: Opus control header prefix missing", ErrCorrupt)
		}
		flags := payload[1]
		i, size := 2, 0
		for ; i < len(payload); i++ {
			size += int(payload[i])
			if payload[i] != 0xFF {
				break
			}
		}
		i++
		if flags&opusTrimStart != 0 {
			i += 2
		}
		if flags&opusTrimEnd != 0 {
			i += 2
		}
		if flags&opusCtrlExt != 0 {
			if i >= len(payload) {
				return out, fmt.Errorf("%w: truncated Opus control extension", ErrCorrupt)
			}
			i += 1 + int(payload[i])
		}
		if i > len(payload) || size > len(payload)-i {
			return out, fmt.Errorf("%w: Opus packet of %d bytes overruns PES", ErrCorrupt, size)
		}
		out = append(out, payload[i:i+size])
		payload = payload[i+size:]
	}
	return out, nil
}
