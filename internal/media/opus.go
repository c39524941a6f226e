package media

import (
	"fmt"
	"time"
)

// maxOpusPacketDuration is the longest a packet may play (RFC 6716 §3.2.5).
const maxOpusPacketDuration = 120 * time.Millisecond

// OpusPacketDuration returns how long an Opus packet plays, from its TOC
// byte (RFC 6716 §3.1): the configuration gives the frame size, the frame
// count code gives the number of frames, read from the second byte for
// code 3 (§3.2.5). Errors wrap ErrInvalidOpus.
func OpusPacketDuration(pkt []byte) (time.Duration, error) {
	if len(pkt) == 0 {
		return 0, fmt.Errorf("%w: empty packet", ErrInvalidOpus)
	}
	toc := pkt[0]
	frame := opusFrameDuration(toc >> 3)
	var frames int
	switch toc & 0x3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	case 3:
		if len(pkt) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without frame count", ErrInvalidOpus)
		}
		frames = int(pkt[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: code 3 packet with zero frames", ErrInvalidOpus)
		}
	}
	d := time.Duration(frames) * frame
	if d > maxOpusPacketDuration {
		return 0, fmt.Errorf("%w: %d frames of %v exceed %v", ErrInvalidOpus, frames, frame, maxOpusPacketDuration)
	}
	return d, nil
}

// opusFrameDuration maps a TOC configuration number (0-31) to its frame
// size (RFC 6716 Table 2): SILK-only 10/20/40/60 ms, Hybrid 10/20 ms,
// CELT-only 2.5/5/10/20 ms.
func opusFrameDuration(config byte) time.Duration {
	switch {
	case config < 12: // SILK-only, NB/MB/WB
		return [4]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // Hybrid, SWB/FB
		return [2]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT-only, NB/WB/SWB/FB
		return [4]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
}
