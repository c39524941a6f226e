package publish

import (
	"time"

	"github.com/pion/rtp/codecs"
)

// rtpMTU is the payload budget of one RTP packet, as pion's sample tracks
// use: room for SRTP's tag and header extensions under a 1280-byte path.
const rtpMTU = 1200

// rtpClip is a track packetized once for every swarm member: each frame's
// RTP payloads and its media time in the clip, so that sending costs a
// header rewrite and encryption, never a re-packetization.
type rtpClip struct {
	frames []rtpFrame
	rate   int64 // ticks per second of at and total (the prepared track's)
	total  int64 // the clip's length in ticks
	clock  int64 // the RTP clock: 90 kHz for H.264, 48 kHz for Opus
}

type rtpFrame struct {
	payloads [][]byte
	at       int64 // ticks from the clip's start
}

// packetize builds the clip of one track; Annex B access units are split
// into single NAL, STAP-A and FU-A packets (RFC 6184), Opus packets go as
// they are (RFC 7587).
func packetize(td *trackData, video bool) *rtpClip {
	if td == nil {
		return nil
	}
	c := &rtpClip{rate: td.rate, total: td.total, clock: int64(opusRate)}
	if video {
		c.clock = 90000
	}
	var h264 codecs.H264Payloader
	var at int64
	for _, f := range td.frames {
		var ps [][]byte
		if video {
			ps = h264.Payload(rtpMTU, f.data)
		} else {
			ps = [][]byte{f.data}
		}
		if len(ps) > 0 {
			c.frames = append(c.frames, rtpFrame{payloads: ps, at: at})
		}
		at += f.ticks
	}
	return c
}

// clipTrack is one member's position in a clip.
type clipTrack struct {
	clip  *rtpClip
	write func(ts uint32, marker bool, payload []byte) error
	next  int    // frame to send next
	loops int64  // completed passes over the clip
	ts0   uint32 // random first timestamp (RFC 3550 section 5.1)
}

// due reports whether the next frame's media time has come by elapsed.
func (t *clipTrack) due(elapsed time.Duration) bool {
	ticks := t.loops*t.clip.total + t.clip.frames[t.next].at
	return mediaTime(ticks, t.clip.rate) <= elapsed
}

// send writes the next frame's packets and advances, looping the clip.
// RTP timestamps count media time, so they keep rising across loops.
func (t *clipTrack) send() (packets, bytes int64, err error) {
	f := t.clip.frames[t.next]
	ticks := t.loops*t.clip.total + f.at
	// RTP time in the codec's clock; whole seconds and the rest apart, so
	// that hours of looping cannot overflow.
	rtpTicks := ticks/t.clip.rate*t.clip.clock + ticks%t.clip.rate*t.clip.clock/t.clip.rate
	ts := t.ts0 + uint32(rtpTicks)
	for i, p := range f.payloads {
		if err := t.write(ts, i == len(f.payloads)-1, p); err != nil {
			return packets, bytes, err
		}
		packets++
		bytes += int64(rtpHeaderSize + len(p))
	}
	if t.next++; t.next == len(t.clip.frames) {
		t.next, t.loops = 0, t.loops+1
	}
	return packets, bytes, nil
}

// rtpHeaderSize is a fixed RTP header without CSRCs or extensions.
const rtpHeaderSize = 12
