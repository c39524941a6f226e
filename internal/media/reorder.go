package media

import (
	"time"

	"github.com/pion/rtp"
)

// ReorderStats counts what a ReorderBuffer has done since it was created.
type ReorderStats struct {
	Pushed     uint64 // packets offered
	Duplicates uint64 // packets already buffered
	Late       uint64 // packets behind the next expected sequence number (already popped or given up)
	Lost       uint64 // sequence numbers skipped without their packet
	Restarts   uint64 // times the sender's numbering jumped back and was followed
}

// reorderSlot holds one buffered packet under its extended sequence number.
type reorderSlot struct {
	pkt     *rtp.Packet
	ext     uint64
	arrived time.Time
}

// readyPacket is a packet pushed out of the window by a newer one, waiting
// to be popped, with the loss counted just before it.
type readyPacket struct {
	pkt  *rtp.Packet
	lost int
}

// ReorderBuffer puts RTP packets back in sequence order. Packets may arrive
// late, out of order or repeated; Pop returns them in order, waiting at most
// maxDelay for a missing one before skipping it. Sequence numbers are
// extended beyond 16 bits (RFC 3550 §A.1), so wrapping is seamless. It is not
// safe for concurrent use.
type ReorderBuffer struct {
	size     int
	maxDelay time.Duration
	now      func() time.Time

	slots   []reorderSlot // indexed by extended sequence number mod size
	count   int           // packets in slots
	started bool
	next    uint64 // extended sequence number Pop returns next
	ready   []readyPacket
	// pendingLoss counts numbers given up by slide after the last ready
	// packet; the next packet popped from the slots reports them.
	pendingLoss int
	lateRun     int // consecutive late packets, to detect a sequence reset
	stats       ReorderStats
}

// NewReorderBuffer returns a buffer holding up to size packets (at least 1)
// and waiting at most maxDelay for a missing one. now is the clock; nil
// means time.Now. Tests pass a fake.
func NewReorderBuffer(size int, maxDelay time.Duration, now func() time.Time) *ReorderBuffer {
	if now == nil {
		now = time.Now
	}
	size = max(size, 1)
	return &ReorderBuffer{size: size, maxDelay: maxDelay, now: now, slots: make([]reorderSlot, size)}
}

// Stats returns the counters so far.
func (b *ReorderBuffer) Stats() ReorderStats { return b.stats }

// Len returns the number of packets held.
func (b *ReorderBuffer) Len() int { return b.count + len(b.ready) }

// Push adds a packet. Duplicates and packets older than the ones already
// popped are dropped. A packet too far ahead for the window moves the
// window forward, giving up on the packets still missing at its back.
func (b *ReorderBuffer) Push(pkt *rtp.Packet) {
	if pkt == nil {
		return
	}
	b.stats.Pushed++
	if !b.started {
		b.started, b.next = true, 1<<16+uint64(pkt.SequenceNumber)
	}
	// Relative to the next expected number, in serial-number arithmetic.
	diff := int64(int16(pkt.SequenceNumber - uint16(b.next)))
	if diff < 0 {
		b.stats.Late++
		if b.lateRun++; b.lateRun <= b.size {
			return
		}
		// A long run of "late" packets is a sender that restarted its
		// sequence numbers: follow it.
		b.restart(pkt.SequenceNumber)
		diff = 0
	}
	b.lateRun = 0
	ext := b.next + uint64(diff)
	if ext >= b.next+uint64(b.size) {
		b.slide(ext - uint64(b.size) + 1)
	}
	slot := &b.slots[ext%uint64(b.size)]
	if slot.pkt != nil {
		b.stats.Duplicates++
		return
	}
	*slot = reorderSlot{pkt: pkt, ext: ext, arrived: b.now()}
	b.count++
}

// slide moves the window start to newNext, queueing the buffered packets
// it passes and giving up on the missing ones.
func (b *ReorderBuffer) slide(newNext uint64) {
	b.drain(newNext)
	// Nothing buffered remains below newNext: jump in one step.
	jump := newNext - b.next
	b.stats.Lost += jump
	b.pendingLoss += int(jump)
	b.next = newNext
}

// restart queues everything buffered and starts the window over at seq,
// without counting the jump as loss.
func (b *ReorderBuffer) restart(seq uint16) {
	b.stats.Restarts++
	b.drain(^uint64(0))
	b.pendingLoss = 0
	b.next += uint64(seq - uint16(b.next))
}

// drain moves buffered packets below limit to the ready queue in order,
// each with the count of missing numbers before it. It stops early once
// nothing is buffered.
func (b *ReorderBuffer) drain(limit uint64) {
	for b.next < limit && b.count > 0 {
		slot := &b.slots[b.next%uint64(b.size)]
		if slot.pkt == nil {
			b.pendingLoss++
			b.stats.Lost++
		} else {
			b.ready = append(b.ready, readyPacket{pkt: slot.pkt, lost: b.pendingLoss})
			b.pendingLoss = 0
			*slot = reorderSlot{}
			b.count--
		}
		b.next++
	}
}

// Pop returns the next packet in sequence order and how many sequence
// numbers were given up just before it, or nil when the next packet is
// missing and still worth waiting for (or nothing is buffered).
func (b *ReorderBuffer) Pop() (pkt *rtp.Packet, lost int) {
	if len(b.ready) > 0 {
		r := b.ready[0]
		b.ready = b.ready[1:]
		if len(b.ready) == 0 {
			b.ready = nil
		}
		return r.pkt, r.lost
	}
	if b.count == 0 {
		return nil, 0
	}
	if b.slots[b.next%uint64(b.size)].pkt == nil {
		deadline, _ := b.Deadline()
		if b.now().Before(deadline) {
			return nil, 0
		}
		lost = b.skipToFirstBuffered()
	}
	lost += b.pendingLoss
	b.pendingLoss = 0
	slot := &b.slots[b.next%uint64(b.size)]
	pkt = slot.pkt
	*slot = reorderSlot{}
	b.count--
	b.next++
	return pkt, lost
}

// skipToFirstBuffered gives up on the hole at the front of the window.
func (b *ReorderBuffer) skipToFirstBuffered() int {
	lost := 0
	for b.slots[b.next%uint64(b.size)].pkt == nil {
		lost++
		b.next++
	}
	b.stats.Lost += uint64(lost)
	return lost
}

// Deadline returns when Pop will stop waiting for the missing packet at the
// front of the window: maxDelay after the earliest arrival among the packets
// held behind it. ok is false when nothing is waiting on a hole, so a caller
// can arm a timer and Pop without a new packet arriving.
func (b *ReorderBuffer) Deadline() (deadline time.Time, ok bool) {
	if len(b.ready) > 0 || b.count == 0 || b.slots[b.next%uint64(b.size)].pkt != nil {
		return time.Time{}, false
	}
	var earliest time.Time
	for i := range b.slots {
		s := &b.slots[i]
		if s.pkt != nil && (earliest.IsZero() || s.arrived.Before(earliest)) {
			earliest = s.arrived
		}
	}
	return earliest.Add(b.maxDelay), true
}
