// Package parts cuts a growing MPEG-TS rendition segment into the partial
// segments of Low-Latency HLS (draft-pantos-hls-rfc8216bis §3.2, §4.4.4.9),
// as a producer writes the segment, for hls.Stream.AddPart. It knows no
// network and no store: bytes in, hls.Part values out.
package parts

import (
	"errors"
	"fmt"
	"time"

	"github.com/castnet/castnet/internal/playback/hls"
)

// Errors a Cutter returns, wrapped with detail.
var (
	// ErrNotTS reports bytes that are not 188-byte transport packets: a
	// packet not starting with the sync byte, or a torn last packet.
	ErrNotTS = errors.New("parts: not an MPEG-TS stream")
	// ErrClosed reports a Write after Close.
	ErrClosed = errors.New("parts: cutter closed")
)

// defaultFrame is the access-unit interval Close assumes when the segment
// had a single one to measure none by.
const defaultFrame = 3000 // 90 kHz ticks: 1/30 s

// Cutter turns one growing MPEG-TS rendition segment into parts of about
// target duration, cut on video access-unit boundaries (PES starts with
// PUSI on the video PID; audio-only streams cut on audio PES), the first
// part Independent when it starts with an IDR (random_access_indicator or
// an IDR NAL). Any later part that happens to start with an IDR is marked
// Independent too; the cutter does not cut at IDRs early, which would break
// §4.4.4.9's floor of 85% of the target for the part before.
//
// No part is longer than target (§4.4.4.9), unless one access unit is: a
// part ends before the access unit that would take it past target, judging
// that unit's length by the interval before it; and since a part is only
// emitted when the unit after it starts, when that start shows the last
// unit ran longer than judged (a live source's frame times jitter), the
// part ends one unit earlier instead. Durations are decode-time
// differences; the last part's is its last unit's plus one interval, or
// what CloseWithDuration leaves of the segment.
//
// Each part demuxes on its own: every part after the first begins with
// copies of the segment's first PAT and PMT packets. To keep the
// continuity counters of those two PIDs valid for a demuxer reading the
// parts in order, the copies count on from the packet before them and the
// original PAT and PMT packets after them are renumbered to follow. So the
// parts, concatenated, are the input with those copies added and those
// PIDs' counters moved; every other byte is the input's, in order. The
// cutter cannot split other streams' PES at a cut: muxers that write each
// PES whole (ffmpeg, internal/mpegts) never leave one open there.
//
// A Cutter is not safe for concurrent use; emit runs inside Write and
// Close, and owns each Part's Data.
type Cutter struct {
	target uint64 // 90 kHz ticks
	emit   func(hls.Part)
	err    error // sticky: ErrNotTS, ErrClosed

	pkt  [packetSize]byte // a packet straddling two writes
	npkt int

	part   []byte
	tables []byte // copies of the first PAT and PMT packets
	pmtPID int    // -1 until a PAT names it
	main   pmtStream
	psi    [2]psiCounter // PAT, PMT

	// The part being cut: its first access unit's decode time and whether
	// that unit is independent; the last unit's decode time, where its
	// bytes start in part, whether it is the part's first, and the interval
	// before it.
	started     bool
	start       uint64
	independent bool
	au          accessUnit
	interval    uint64
	scan        idrScan
	emitted     time.Duration // the parts emitted so far, for CloseWithDuration
}

// accessUnit is the last access unit begun in the part being cut.
type accessUnit struct {
	t           uint64 // decode time
	off         int    // its first packet's offset in the part
	first       bool   // the part's first unit
	independent bool
}

// psiCounter renumbers one PSI PID's continuity counters after copies of
// its packet were inserted.
type psiCounter struct {
	last   byte // the counter of the last packet written with payload
	offset byte // copies inserted so far
}

// NewCutter returns a Cutter that passes each part to emit as it is cut.
func NewCutter(target time.Duration, emit func(hls.Part)) *Cutter {
	return &Cutter{target: uint64(target * 9 / 100000), emit: emit, pmtPID: -1, main: pmtStream{pid: -1}}
}

// Write consumes TS bytes in any chunking; packets may straddle writes.
// A packet without the sync byte stops the cutter (ErrNotTS): n counts the
// bytes before it, and every later call fails.
func (c *Cutter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n := 0
	for len(b) > 0 {
		if c.npkt == 0 && b[0] != syncByte {
			c.err = fmt.Errorf("%w: no sync byte", ErrNotTS)
			return n, c.err
		}
		if c.npkt == 0 && len(b) >= packetSize {
			c.packet(b[:packetSize])
			b, n = b[packetSize:], n+packetSize
			continue
		}
		k := copy(c.pkt[c.npkt:], b)
		c.npkt, b, n = c.npkt+k, b[k:], n+k
		if c.npkt == packetSize {
			c.packet(c.pkt[:])
			c.npkt = 0
		}
	}
	return n, nil
}

// Close emits the last part, its duration its last access unit's decode
// time plus one interval. A torn last packet is dropped and reported.
func (c *Cutter) Close() error { return c.close(0) }

// CloseWithDuration is Close for a caller that knows the segment's
// duration (its EXTINF): the last part lasts what the others leave of it,
// so the parts add up to the segment, unless that is not a duration a
// part may have.
func (c *Cutter) CloseWithDuration(segment time.Duration) error { return c.close(segment) }

func (c *Cutter) close(segment time.Duration) error {
	if errors.Is(c.err, ErrClosed) {
		return nil
	}
	err := c.err
	if err == nil && c.npkt > 0 {
		err = fmt.Errorf("%w: %d bytes of a last packet", ErrNotTS, c.npkt)
	}
	if len(c.part) > 0 {
		c.emitPart(c.lastDuration(segment))
		c.part = nil
	}
	c.err = ErrClosed
	return err
}

// lastDuration is the last part's duration (see Close).
func (c *Cutter) lastDuration(segment time.Duration) time.Duration {
	if !c.started {
		return 0
	}
	interval := c.interval
	if interval == 0 {
		interval = defaultFrame
	}
	estimate := ticks(uint64(max(since(c.au.t, c.start), 0)) + interval)
	if rest := segment - c.emitted; rest > 0 && rest <= ticks(c.target) {
		return rest
	}
	return estimate
}

// packet handles one whole packet: it reads the tables, cuts before an
// access unit that would overrun the target, and appends the packet.
func (c *Cutter) packet(p []byte) {
	h := readHeader(p)
	switch {
	case h.pid == 0 && h.pusi:
		c.readPAT(p, h.payload)
	case h.pid == c.pmtPID && h.pusi:
		c.readPMT(p, h.payload)
	case h.pid == c.main.pid && h.pusi:
		c.accessUnit(h)
	case h.pid == c.main.pid && c.scan.active:
		c.scanIDR(h.payload)
	}
	c.part = append(c.part, p...)
	c.renumber(c.part[len(c.part)-packetSize:], h.pid)
}

// readPAT notes the first PAT: its program's PMT PID, and a copy of it.
func (c *Cutter) readPAT(p, payload []byte) {
	if c.pmtPID >= 0 {
		return
	}
	if pid, ok := patProgram(payload); ok {
		c.pmtPID = pid
		c.tables = append(c.tables[:0], p...)
	}
}

// readPMT notes the first PMT: the stream to cut on, and a copy of it.
func (c *Cutter) readPMT(p, payload []byte) {
	if c.main.pid >= 0 {
		return
	}
	if es, ok := pmtMain(payload); ok && es.pid != 0 && es.pid != c.pmtPID {
		c.main = es
		c.tables = append(c.tables, p...)
	}
}

// accessUnit starts a PES of the stream cut on. The part so far ends
// before it when it would take the part past the target, or before the
// unit ahead of it when that one turned out to take the part past.
func (c *Cutter) accessUnit(h header) {
	c.scan.active = false
	t, data, ok := pesTime(h.payload)
	if !ok {
		return // no timestamp to measure by: it stays in the part
	}
	if c.started {
		d := since(t, c.au.t)
		if d <= 0 {
			return // decode time standing still or going back: no cut, no measure
		}
		c.interval = uint64(d)
		if uint64(since(t, c.start)) > c.target && !c.au.first && c.carries() {
			c.cutBefore(c.au)
		}
		if d := since(t, c.start); uint64(d)+c.interval > c.target {
			c.flush(ticks(uint64(d)))
		}
	}
	independent := h.ra || !c.main.video // every audio frame is independent
	c.au = accessUnit{t: t, off: len(c.part), first: !c.started, independent: independent}
	if !c.started {
		c.started, c.start, c.independent = true, t, independent
	}
	c.scan = idrScan{active: !independent, hevc: c.main.streamType == streamTypeHEVC}
	if c.scan.active {
		c.scanIDR(h.payload[data:])
	}
}

// carries says whether the bytes of the last access unit on can move to
// the next part as they are: they hold no PAT or PMT packet, whose
// counters the copies inserted before them would have to renumber again.
func (c *Cutter) carries() bool {
	for off := c.au.off; off < len(c.part); off += packetSize {
		if pid := readHeader(c.part[off : off+packetSize]).pid; c.counter(pid) != nil {
			return false
		}
	}
	return true
}

// cutBefore emits the part up to access unit au, and starts the next with
// the tables and au's bytes.
func (c *Cutter) cutBefore(au accessUnit) {
	tail := c.part[au.off:]
	c.part = c.part[:au.off:au.off]
	c.flush(ticks(uint64(since(au.t, c.start))))
	c.part = append(c.part, tail...)
	c.started, c.start, c.independent = true, au.t, au.independent
	c.au.off, c.au.first = c.au.off-au.off+len(c.tables), true
}

// scanIDR feeds the last access unit's bytes to the IDR scan.
func (c *Cutter) scanIDR(b []byte) {
	done, idr := c.scan.feed(b)
	if !done {
		return
	}
	c.scan.active = false
	if idr {
		c.au.independent = true
		c.independent = c.independent || c.au.first
	}
}

// emitPart hands the part being cut to emit.
func (c *Cutter) emitPart(d time.Duration) {
	c.emit(hls.Part{Duration: d, Independent: c.independent, Data: c.part})
	c.emitted += d
	c.started, c.independent, c.scan.active = false, false, false
}

// flush emits the part being cut and starts the next with the tables.
func (c *Cutter) flush(d time.Duration) {
	size := len(c.part)
	c.emitPart(d)
	c.part = make([]byte, 0, max(size, 64*packetSize))
	for off := 0; off+packetSize <= len(c.tables); off += packetSize {
		c.part = append(c.part, c.tables[off:off+packetSize]...)
		c.insertCopy(c.part[len(c.part)-packetSize:])
	}
}

// counter is the PSI PID's renumbering state, or nil for other PIDs.
func (c *Cutter) counter(pid int) *psiCounter {
	switch pid {
	case 0:
		return &c.psi[0]
	case c.pmtPID:
		return &c.psi[1]
	}
	return nil
}

// insertCopy numbers an inserted table packet on from its PID's last.
func (c *Cutter) insertCopy(p []byte) {
	pc := c.counter(readHeader(p).pid)
	cc := (pc.last + 1) & 0x0F
	p[3] = p[3]&0xF0 | cc
	pc.last, pc.offset = cc, pc.offset+1
}

// renumber moves an original PAT or PMT packet's counter past the copies
// inserted before it.
func (c *Cutter) renumber(p []byte, pid int) {
	pc := c.counter(pid)
	if pc == nil {
		return
	}
	p[3] = p[3]&0xF0 | (p[3]+pc.offset)&0x0F
	if hasPayload(p) {
		pc.last = p[3] & 0x0F
	}
}

// ticks converts 90 kHz ticks to a duration.
func ticks(t uint64) time.Duration { return time.Duration(t) * 100000 / 9 }
