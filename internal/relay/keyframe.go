package relay

// H.264 NAL unit types (H.264 Table 7-1) and RTP payload structures (RFC
// 6184 §5.2) that matter for finding a keyframe's first packet.
const (
	nalIDR   = 5
	nalSPS   = 7
	nalSTAPA = 24
	nalFUA   = 28
)

// startsKeyframe reports whether an H.264 RTP payload carries the start of
// a keyframe: an SPS or an IDR slice as a single NAL unit, inside a STAP-A,
// or as the first fragment of an FU-A. Encoders send the SPS (and PPS) in
// front of each IDR, so the first packet of a keyframe access unit is
// either the parameter sets or, from an encoder that sends them once, the
// IDR itself.
func startsKeyframe(payload []byte) bool {
	if len(payload) == 0 {
		return false
	}
	switch t := payload[0] & 0x1f; t {
	case nalIDR, nalSPS:
		return true
	case nalSTAPA:
		return stapHasKeyframe(payload[1:])
	case nalFUA:
		return len(payload) > 1 && payload[1]&0x80 != 0 && payload[1]&0x1f == nalIDR
	}
	return false
}

// stapHasKeyframe walks a STAP-A's 16-bit-length-prefixed NAL units (RFC
// 6184 §5.7.1), stopping at the first length that overruns.
func stapHasKeyframe(b []byte) bool {
	for len(b) > 2 {
		n := int(b[0])<<8 | int(b[1])
		b = b[2:]
		if n == 0 || n > len(b) {
			return false
		}
		if t := b[0] & 0x1f; t == nalIDR || t == nalSPS {
			return true
		}
		b = b[n:]
	}
	return false
}
