package relay

import (
	"time"

	"github.com/pion/rtp"

	"github.com/castnet/castnet/internal/media"
)

// track is one kind's numbering, cache and keyframe index.
type track struct {
	kind     media.Kind
	codec    Codec
	hasCodec bool
	mung     munger
	cache    []*Packet // by relay sequence number modulo len
	// The access unit being received: its timestamp and first packet.
	auTS     uint32
	auStart  uint16
	auKey    bool
	auOpen   bool
	keyframe keyframe
}

// keyframe is where the latest keyframe starts in the cache.
type keyframe struct {
	seq uint16
	at  time.Time
	ok  bool
}

func newTrack(kind media.Kind, clock uint32, cache int) *track {
	return &track{kind: kind, mung: munger{clock: clock}, cache: make([]*Packet, cache)}
}

// store keeps p for retransmission and replay.
func (t *track) store(p *Packet) { t.cache[int(p.Header.SequenceNumber)%len(t.cache)] = p }

// cached returns the packet numbered seq, if the cache still holds it.
func (t *track) cached(seq uint16) *Packet {
	p := t.cache[int(seq)%len(t.cache)]
	if p == nil || p.Header.SequenceNumber != seq {
		return nil
	}
	return p
}

// observe follows access units on a fresh video packet and reports
// whether p is the one that shows a new keyframe has started (its first
// packet may be an earlier one: the replay starts at auStart).
func (t *track) observe(p *Packet, now time.Time) bool {
	if t.kind != media.KindVideo {
		return false
	}
	if !t.auOpen || p.Header.Timestamp != t.auTS {
		t.auTS, t.auStart, t.auKey, t.auOpen = p.Header.Timestamp, p.Header.SequenceNumber, false, true
	}
	if t.auKey || !startsKeyframe(p.Payload) {
		return false
	}
	t.auKey = true
	t.keyframe = keyframe{seq: t.auStart, at: now, ok: true}
	return true
}

// gop returns the cached packets from the latest keyframe to the newest,
// nil when the cache no longer holds all of them.
func (t *track) gop() []*Packet {
	if !t.keyframe.ok {
		return nil
	}
	n := int(t.mung.lastOut - t.keyframe.seq + 1)
	if n <= 0 || n > len(t.cache) {
		return nil
	}
	out := make([]*Packet, 0, n)
	for i := range n {
		if p := t.cached(t.keyframe.seq + uint16(i)); p != nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 || out[0].Header.SequenceNumber != t.keyframe.seq {
		return nil
	}
	return out
}

// packetOf copies a source packet onto the relay's numbering: the
// publisher's read buffer is not ours to keep, and its header extensions
// carry the publisher's negotiated IDs, which mean nothing to a viewer.
func packetOf(kind media.Kind, src *rtp.Packet, m mapped) *Packet {
	h := rtp.Header{Version: 2, Marker: src.Marker, SequenceNumber: m.seq, Timestamp: m.ts}
	return &Packet{Kind: kind, Header: h, Payload: append([]byte(nil), src.Payload...)}
}
