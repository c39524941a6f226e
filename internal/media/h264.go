package media

import "strings"

// H.264 NAL unit types (H.264 Table 7-1) and the RTP payload structures of
// RFC 6184 §5.2 that share the same five-bit field.
const (
	naluSlice     = 1
	naluIDR       = 5
	naluSEI       = 6
	naluSPS       = 7
	naluPPS       = 8
	naluAUD       = 9
	naluEndSeq    = 10
	naluEndStream = 11
	naluFiller    = 12
	naluSTAPA     = 24
	naluSTAPB     = 25
	naluMTAP16    = 26
	naluMTAP24    = 27
	naluFUA       = 28
	naluFUB       = 29
)

// NALUType returns the nal_unit_type of a NAL unit (the low five bits of
// its first byte), or 0 for an empty one.
func NALUType(nalu []byte) uint8 {
	if len(nalu) == 0 {
		return 0
	}
	return nalu[0] & 0x1f
}

// AnnexB joins NAL units into an H.264 Annex B byte stream, each behind a
// four-byte start code, as MPEG-TS and raw .h264 files want them.
func AnnexB(nalus [][]byte) []byte {
	n := 0
	for _, nal := range nalus {
		n += 4 + len(nal)
	}
	out := make([]byte, 0, n)
	for _, nal := range nalus {
		out = append(out, 0, 0, 0, 1)
		out = append(out, nal...)
	}
	return out
}

// SplitAnnexB cuts an Annex B byte stream into its NAL units, accepting
// three- and four-byte start codes. Bytes before the first start code and
// the trailing zero bytes of each NAL unit (H.264 §B.1.1 trailing_zero_8bits)
// are dropped, and so are empty NAL units. The results alias b.
func SplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			i++
			continue
		}
		if start >= 0 {
			out = appendNonEmpty(out, trimTrailingZeros(b[start:i]))
		}
		i += 3
		start = i
	}
	if start >= 0 {
		out = appendNonEmpty(out, trimTrailingZeros(b[start:]))
	}
	return out
}

func trimTrailingZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func appendNonEmpty(out [][]byte, nal []byte) [][]byte {
	if len(nal) == 0 {
		return out
	}
	return append(out, nal)
}

// isVCL reports whether a NAL unit type carries coded slice data (H.264
// §7.4.1.2.2: types 1 to 5).
func isVCL(t uint8) bool { return t >= naluSlice && t <= naluIDR }

// firstMBInSlice reads first_mb_in_slice, the first field of every slice
// header (H.264 §7.3.3). A picture whose first slice does not start at
// macroblock 0 has lost its beginning.
func firstMBInSlice(nalu []byte) (uint32, bool) {
	if len(nalu) < 2 {
		return 0, false
	}
	// ue(v) of a macroblock address fits well within 16 escaped bytes.
	head := nalu[1:min(len(nalu), 17)]
	r := bitReader{buf: unescapeRBSP(head)}
	v, err := r.ue()
	return v, err == nil
}

// H264PacketizationMode1 reports whether an SDP fmtp parameter list for
// H.264 says packetization-mode=1, the non-interleaved mode every browser
// sends (STAP-A and FU-A allowed). Mode 0, one NAL unit per packet, is the
// default when the parameter is absent (RFC 6184 §8.1).
func H264PacketizationMode1(fmtp string) bool {
	for _, p := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "packetization-mode") {
			return strings.TrimSpace(v) == "1"
		}
	}
	return false
}
