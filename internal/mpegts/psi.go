package mpegts

import (
	"encoding/binary"
	"fmt"
)

// Program-specific information: the program association table (PAT, §2.4.4.3)
// and program map table (PMT, §2.4.4.8), one program each.

const (
	tableIDPAT    = 0x00
	tableIDPMT    = 0x02
	programNumber = 1
	// maxSection is the largest PAT or PMT section: section_length may not
	// exceed 1021 (§2.4.4.4, §2.4.4.9) plus the 3 bytes before it.
	maxSection = 1024
)

// Descriptor tags of the Opus-in-TS mapping (the ETSI draft "Opus in MPEG-2
// transport stream" that ffmpeg and GStreamer implement): a registration
// descriptor 'Opus' plus a DVB extension descriptor with the provisional tag
// 0x80 carrying channel_config_code.
const (
	descRegistration = 0x05 // registration_descriptor, §2.6.8
	descDVBExtension = 0x7F // DVB extension_descriptor, ETSI EN 300 468 §6.3
	extTagOpus       = 0x80 // user-defined extension tag carrying the Opus channel config
)

// esInfo describes one elementary stream of the PMT.
type esInfo struct {
	streamType  uint8
	pid         uint16
	descriptors []byte
}

// section wraps a table body into a long-form section with its CRC:
// table_id, section_syntax_indicator=1, section_length, then
// table_id_extension, version 0, current_next=1, section 0 of 0.
func section(tableID uint8, ext uint16, body []byte) []byte {
	n := 5 + len(body) + 4 // header after section_length + body + CRC
	s := make([]byte, 0, 3+n)
	s = append(s, tableID, 0xB0|byte(n>>8), byte(n))
	s = binary.BigEndian.AppendUint16(s, ext)
	s = append(s, 0xC1, 0x00, 0x00) // reserved '11', version 0, current_next 1; section 0, last 0
	s = append(s, body...)
	return binary.BigEndian.AppendUint32(s, crc32MPEG(s))
}

// buildPAT returns the PAT section naming the single program's PMT PID.
func buildPAT() []byte {
	body := binary.BigEndian.AppendUint16(nil, programNumber)
	body = binary.BigEndian.AppendUint16(body, 0xE000|PIDPMT)
	return section(tableIDPAT, 1, body)
}

// buildPMT returns the PMT section listing streams, with the PCR on pcrPID.
func buildPMT(pcrPID uint16, streams []esInfo) []byte {
	body := binary.BigEndian.AppendUint16(nil, 0xE000|pcrPID)
	body = append(body, 0xF0, 0x00) // program_info_length 0
	for _, es := range streams {
		body = append(body, es.streamType)
		body = binary.BigEndian.AppendUint16(body, 0xE000|es.pid)
		body = binary.BigEndian.AppendUint16(body, 0xF000|uint16(len(es.descriptors)))
		body = append(body, es.descriptors...)
	}
	return section(tableIDPMT, programNumber, body)
}

// opusDescriptors returns the registration descriptor 'Opus' and the
// extension descriptor with channel_config_code: 1 for mono, 2 for stereo,
// up to 8 for the Vorbis channel orders; ffmpeg's mpegts demuxer builds the
// decoder's OpusHead from it.
func opusDescriptors(channels int) []byte {
	return []byte{
		descRegistration, 4, 'O', 'p', 'u', 's',
		descDVBExtension, 2, extTagOpus, byte(channels),
	}
}

// parseSection checks a complete section's length and CRC and returns its
// table_id, table_id_extension and the body between header and CRC.
func parseSection(s []byte) (tableID uint8, ext uint16, body []byte, err error) {
	if len(s) < 12 {
		return 0, 0, nil, fmt.Errorf("%w: section of %d bytes", ErrCorrupt, len(s))
	}
	n := int(binary.BigEndian.Uint16(s[1:3]) & 0x0FFF)
	if n < 9 || 3+n > len(s) {
		return 0, 0, nil, fmt.Errorf("%w: section_length %d", ErrCorrupt, n)
	}
	s = s[:3+n]
	want := binary.BigEndian.Uint32(s[len(s)-4:])
	if got := crc32MPEG(s[:len(s)-4]); got != want {
		return 0, 0, nil, fmt.Errorf("%w: section CRC %08x, want %08x", ErrCorrupt, got, want)
	}
	return s[0], binary.BigEndian.Uint16(s[3:5]), s[8 : len(s)-4], nil
}

// parsePAT returns the PMT PID of the first program in a PAT body.
func parsePAT(body []byte) (pid uint16, ok bool) {
	for ; len(body) >= 4; body = body[4:] {
		if binary.BigEndian.Uint16(body) != 0 { // program 0 points at the network PID
			return binary.BigEndian.Uint16(body[2:]) & 0x1FFF, true
		}
	}
	return 0, false
}

// parsePMT returns the elementary streams a PMT body lists.
func parsePMT(body []byte) ([]esInfo, error) {
	if len(body) < 4 {
		return nil, fmt.Errorf("%w: PMT of %d bytes", ErrCorrupt, len(body))
	}
	skip := 4 + int(binary.BigEndian.Uint16(body[2:])&0x0FFF)
	if skip > len(body) {
		return nil, fmt.Errorf("%w: program_info_length overruns PMT", ErrCorrupt)
	}
	var out []esInfo
	for rest := body[skip:]; len(rest) > 0; {
		if len(rest) < 5 {
			return nil, fmt.Errorf("%w: truncated PMT entry", ErrCorrupt)
		}
		n := int(binary.BigEndian.Uint16(rest[3:]) & 0x0FFF)
		if 5+n > len(rest) {
			return nil, fmt.Errorf("%w: ES_info_length overruns PMT", ErrCorrupt)
		}
		out = append(out, esInfo{
			streamType:  rest[0],
			pid:         binary.BigEndian.Uint16(rest[1:]) & 0x1FFF,
			descriptors: rest[5 : 5+n],
		})
		rest = rest[5+n:]
	}
	return out, nil
}

// hasRegistration reports whether descriptors hold a registration
// descriptor with the given format_identifier.
func hasRegistration(descriptors []byte, id string) bool {
	for d := descriptors; len(d) >= 2; {
		tag, n := d[0], int(d[1])
		if 2+n > len(d) {
			return false
		}
		if tag == descRegistration && n >= 4 && string(d[2:6]) == id {
			return true
		}
		d = d[2+n:]
	}
	return false
}
