package relay

import (
	"time"

	"github.com/pion/rtp"
)

// histSize is how many recent source sequence numbers keep the offset they
// were mapped with, so that a packet arriving late (a retransmission the
// node asked the publisher for) maps to the same number as its neighbours.
const histSize = 1 << 11

// munger maps one track's source sequence numbers and timestamps onto the
// relay's. Sources change when the publisher reconnects; the relay's
// numbering runs on: the first packet of a new source follows the last one
// sent, and its timestamp advances by the wall-clock time in between.
type munger struct {
	clock    uint32 // the track's RTP clock rate, Hz
	started  bool
	anchor   bool   // the next packet starts a new source
	highest  uint16 // highest source sequence number of the current source
	offset   uint16 // out = in - offset, for packets after highest
	tsOffset uint32 // outTS = inTS - tsOffset
	lastOut  uint16
	lastTS   uint32
	lastAt   time.Time
	hist     [histSize]histEntry
}

type histEntry struct {
	seq     uint16
	offset  uint16
	set     bool
	dropped bool
}

// mapped is the relay's header fields for one source packet.
type mapped struct {
	seq uint16
	ts  uint32
	// fresh says the packet is the newest of its track so far (not a late
	// or repeated one).
	fresh bool
}

// newSource makes the next packet re-anchor the numbering.
func (m *munger) newSource() { m.anchor = true }

// push maps h. ok is false for a packet the relay does not forward: a
// padding-only packet that arrives in order (dropping it and shifting the
// numbering hides it from viewers), or one too old to map.
func (m *munger) push(h *rtp.Header, paddingOnly bool, now time.Time) (mapped, bool) {
	if !m.started || m.anchor {
		return m.reanchor(h, now), true
	}
	d := int16(h.SequenceNumber - m.highest)
	if d <= 0 {
		return m.late(h)
	}
	m.fillGap(d)
	m.highest = h.SequenceNumber
	if paddingOnly && d == 1 {
		m.offset++
		m.remember(h.SequenceNumber, true)
		return mapped{}, false
	}
	m.remember(h.SequenceNumber, false)
	return m.advance(h, now), true
}

// reanchor starts a source: its first packet follows the last one out.
func (m *munger) reanchor(h *rtp.Header, now time.Time) mapped {
	out, ts := h.SequenceNumber, h.Timestamp
	if m.started {
		out = m.lastOut + 1
		ts = m.lastTS + uint32(now.Sub(m.lastAt).Seconds()*float64(m.clock)) + 1
	}
	m.offset, m.tsOffset = h.SequenceNumber-out, h.Timestamp-ts
	m.started, m.anchor, m.highest = true, false, h.SequenceNumber
	m.hist = [histSize]histEntry{}
	m.remember(h.SequenceNumber, false)
	return m.advance(h, now)
}

func (m *munger) advance(h *rtp.Header, now time.Time) mapped {
	out := mapped{seq: h.SequenceNumber - m.offset, ts: h.Timestamp - m.tsOffset, fresh: true}
	m.lastOut, m.lastTS, m.lastAt = out.seq, out.ts, now
	return out
}

// late maps a packet at or below highest with the offset it was given.
func (m *munger) late(h *rtp.Header) (mapped, bool) {
	e := m.hist[h.SequenceNumber%histSize]
	if !e.set || e.seq != h.SequenceNumber || e.dropped {
		return mapped{}, false
	}
	return mapped{seq: h.SequenceNumber - e.offset, ts: h.Timestamp - m.tsOffset}, true
}

// fillGap gives the numbers skipped before a packet d ahead of highest
// the current offset: they are losses, and their retransmissions map
// there.
func (m *munger) fillGap(d int16) {
	for i := uint16(1); i < uint16(d) && i < histSize; i++ {
		m.remember(m.highest+i, false)
	}
}

func (m *munger) remember(seq uint16, dropped bool) {
	m.hist[seq%histSize] = histEntry{seq: seq, offset: m.offset, set: true, dropped: dropped}
}
