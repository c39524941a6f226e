package parts

// The little of ISO/IEC 13818-1 the cutter reads: packet headers (§2.4.3.2),
// the PAT and PMT of one program (§2.4.4.3, §2.4.4.8) when each fits one
// packet, and PES timestamps (§2.4.3.7). Anything it cannot read it leaves
// alone: the bytes still go into the parts, only no cut is made there.

const (
	packetSize = 188
	syncByte   = 0x47
	tsMask     = 1<<33 - 1 // PTS and DTS are 33-bit 90 kHz counters
)

// Stream types (Table 2-34 and its amendments) the cutter cuts video on.
const (
	streamTypeH264 = 0x1B
	streamTypeHEVC = 0x24
)

// header is what the cutter needs of a packet's header.
type header struct {
	pid     int
	pusi    bool // payload_unit_start_indicator
	ra      bool // random_access_indicator in the adaptation field
	payload []byte
}

// readHeader parses a 188-byte packet; a malformed adaptation field leaves
// the payload empty.
func readHeader(p []byte) header {
	h := header{pid: int(p[1]&0x1F)<<8 | int(p[2]), pusi: p[1]&0x40 != 0}
	afc := p[3] >> 4 & 3
	body := p[4:]
	if afc&2 != 0 {
		n := int(body[0])
		if 1+n > len(body) {
			return h
		}
		h.ra = n > 0 && body[1]&0x40 != 0
		body = body[1+n:]
	}
	if afc&1 != 0 {
		h.payload = body
	}
	return h
}

// hasPayload says whether a packet carries payload, and so counts in its
// PID's continuity counter (§2.4.3.3).
func hasPayload(p []byte) bool { return p[3]&0x10 != 0 }

// section returns the PSI section that starts in a PUSI packet's payload,
// if the packet holds all of it, with its table_id checked.
func section(payload []byte, tableID byte) ([]byte, bool) {
	if len(payload) < 1 || 1+int(payload[0]) >= len(payload) {
		return nil, false
	}
	s := payload[1+int(payload[0]):]
	if len(s) < 12 || s[0] != tableID {
		return nil, false
	}
	n := 3 + (int(s[1]&0x0F)<<8 | int(s[2]))
	if n < 12 || n > len(s) {
		return nil, false
	}
	return s[:n-4], true // without the CRC
}

// patProgram returns the PMT PID of the first program a PAT lists.
func patProgram(payload []byte) (int, bool) {
	s, ok := section(payload, 0x00)
	if !ok {
		return 0, false
	}
	for e := s[8:]; len(e) >= 4; e = e[4:] {
		if e[0] != 0 || e[1] != 0 { // program 0 is the network PID
			return int(e[2]&0x1F)<<8 | int(e[3]), true
		}
	}
	return 0, false
}

// pmtStream is the elementary stream a PMT lists that the cutter cuts on:
// the first video stream, or else the first stream of any kind.
type pmtStream struct {
	pid        int
	streamType byte
	video      bool
}

func pmtMain(payload []byte) (pmtStream, bool) {
	s, ok := section(payload, 0x02)
	if !ok || len(s) < 12 { // PCR_PID and program_info_length
		return pmtStream{}, false
	}
	skip := 12 + (int(s[10]&0x0F)<<8 | int(s[11]))
	var first pmtStream
	found := false
	for i := skip; i+5 <= len(s); i += 5 + (int(s[i+3]&0x0F)<<8 | int(s[i+4])) {
		es := pmtStream{pid: int(s[i+1]&0x1F)<<8 | int(s[i+2]), streamType: s[i]}
		if es.video = es.streamType == streamTypeH264 || es.streamType == streamTypeHEVC; es.video {
			return es, true
		}
		if !found {
			first, found = es, true
		}
	}
	return first, found
}

// pesTime returns the decode time of a PES whose header starts payload:
// its DTS, or its PTS when it has no DTS, and the offset of its elementary
// stream data.
func pesTime(payload []byte) (ticks uint64, data int, ok bool) {
	if len(payload) < 9 || payload[0] != 0 || payload[1] != 0 || payload[2] != 1 {
		return 0, 0, false
	}
	flags, hlen := payload[7]>>6, int(payload[8])
	data = 9 + hlen
	switch {
	case flags == 3 && hlen >= 10 && len(payload) >= 19:
		return timestamp(payload[14:19]), min(data, len(payload)), true
	case flags >= 2 && hlen >= 5 && len(payload) >= 14:
		return timestamp(payload[9:14]), min(data, len(payload)), true
	}
	return 0, 0, false
}

// timestamp reads a 33-bit PTS or DTS field.
func timestamp(b []byte) uint64 {
	return uint64(b[0]>>1&7)<<30 | uint64(b[1])<<22 | uint64(b[2]>>1)<<15 | uint64(b[3])<<7 | uint64(b[4]>>1)
}

// since is a − b on the 33-bit clock, negative when a is earlier (a jump
// back, or wrap-around read the other way).
func since(a, b uint64) int64 {
	d := int64((a - b) & tsMask)
	if d >= 1<<32 {
		d -= 1 << 33
	}
	return d
}

// idrScan looks for the first coded slice of an access unit, across the
// packets that carry it, to tell whether it is an IDR (H.264 §7.4.1.2,
// nal_unit_type 5; HEVC §7.4.2.2, IRAP types 16 to 23).
type idrScan struct {
	active bool
	hevc   bool
	zeros  int // zero bytes seen just before, for start codes across packets
	next   bool
	seen   int // bytes scanned, bounded by maxIDRScan
}

// maxIDRScan bounds the bytes read before giving up: parameter sets and
// SEI (x264 writes its settings there) precede the first slice.
const maxIDRScan = 16 << 10

// feed scans b. It reports done when the first slice was found (idr says
// whether it is an IDR) or the bound passed.
func (s *idrScan) feed(b []byte) (done, idr bool) {
	for _, c := range b {
		if s.seen++; s.seen > maxIDRScan {
			return true, false
		}
		if s.next {
			s.next = false
			if done, idr := s.nal(c); done {
				return true, idr
			}
		}
		switch {
		case c == 0:
			s.zeros++
		case c == 1 && s.zeros >= 2:
			s.next, s.zeros = true, 0
		default:
			s.zeros = 0
		}
	}
	return false, false
}

// nal classifies the first byte of a NAL unit header.
func (s *idrScan) nal(c byte) (done, idr bool) {
	if s.hevc {
		t := c >> 1 & 0x3F
		return t < 32, t >= 16 && t <= 23
	}
	t := c & 0x1F
	return t >= 1 && t <= 5, t == 5
}
