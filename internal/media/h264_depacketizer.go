package media

import (
	"time"

	"github.com/pion/rtp"
)

// Bounds on one depacketized frame, so a hostile or broken publisher cannot
// make the depacketizer hold unbounded memory. A 4K intra frame at a high
// bitrate stays well under both.
const (
	MaxH264FrameBytes = 8 << 20
	MaxH264FrameNALUs = 1024
)

// H264Frame is one whole H.264 access unit rebuilt from RTP packets.
type H264Frame struct {
	// Timestamp is the 90 kHz RTP timestamp shared by the frame's packets;
	// a Timeline maps it onto stream time.
	Timestamp uint32
	// Keyframe is set for IDR frames; their NALUs then begin with the
	// latest SPS and PPS.
	Keyframe bool
	// NALUs are the frame's NAL units without start codes. The frame owns
	// them: the depacketizer never touches them again.
	NALUs [][]byte
}

// AccessUnit turns the frame into a video access unit at pts.
func (f H264Frame) AccessUnit(pts time.Duration) AccessUnit {
	return AccessUnit{Kind: KindVideo, Codec: CodecH264, PTS: pts, Keyframe: f.Keyframe, NALUs: f.NALUs}
}

// H264Result is what one packet pushed into an H264Depacketizer produced.
//
// One packet can finish two frames: a frame whose publisher left out the
// marker bit ends when the next timestamp arrives, and that next packet may
// itself be a whole frame with the marker set. Losing a keyframe is not a
// failure of the call but news for the caller, who should answer it with a
// PLI (RFC 4585 §6.3.1), hence a result rather than (frame, error).
type H264Result struct {
	Frames       []H264Frame // whole frames, oldest first
	Dropped      int         // broken frames discarded
	KeyframeLost bool        // a discarded frame was an IDR, or an IDR came before any SPS/PPS
}

// H264Stats counts what an H264Depacketizer has seen since it was created.
type H264Stats struct {
	Packets       uint64 // packets pushed
	Duplicates    uint64 // packets ignored as repeated or older than the last one
	LostPackets   uint64 // sequence numbers skipped
	Malformed     uint64 // payloads that break RFC 6184 framing
	Frames        uint64 // frames returned
	Keyframes     uint64 // IDR frames returned
	Dropped       uint64 // broken frames discarded
	KeyframesLost uint64 // discarded frames that were (or needed) an IDR
}

// span locates one NAL unit inside the frame buffer.
type span struct{ start, end int }

// H264Depacketizer rebuilds H.264 frames from RTP packets in packetization
// mode 1 (RFC 6184 §6.3): single NAL unit packets, STAP-A and FU-A. Push
// packets in sequence order (a ReorderBuffer in front sorts them); any hole
// in the sequence discards what it touched. It is not safe for concurrent
// use: one track, one goroutine.
type H264Depacketizer struct {
	haveSeq    bool
	lastSeq    uint16
	gapPending bool // packets were lost since the last packet with media

	sps, pps []byte // latest parameter sets, replaced and never mutated

	open     bool   // a frame is being assembled
	ts       uint32 // its RTP timestamp
	data     []byte // its NAL units back to back
	spans    []span
	broken   bool // something of it was lost: it will be dropped
	sawIDR   bool
	sawVCL   bool
	inFU     bool // a FU-A fragmented NAL unit is open at data[fuStart:]
	fuStart  int
	fuType   byte // its NAL unit type, which every fragment must repeat
	sizeHint int  // size of the last frame, to size the next buffer

	res   H264Result
	stats H264Stats
}

// NewH264Depacketizer returns a depacketizer waiting for its first packet.
func NewH264Depacketizer() *H264Depacketizer {
	return &H264Depacketizer{}
}

// Stats returns the counters so far.
func (d *H264Depacketizer) Stats() H264Stats { return d.stats }

// Push adds the next packet and returns the frames it completed. A frame
// ends at the RTP marker bit (RFC 6184 §5.1) or, for publishers that omit
// it, when the timestamp changes.
func (d *H264Depacketizer) Push(pkt *rtp.Packet) H264Result {
	d.res = H264Result{}
	if pkt == nil {
		return d.res
	}
	d.stats.Packets++
	gap, fresh := d.advanceSeq(pkt.SequenceNumber)
	if !fresh {
		d.stats.Duplicates++
		return d.res
	}
	d.gapPending = d.gapPending || gap
	if len(pkt.Payload) == 0 {
		// Padding-only packets (bandwidth probes) carry no media and may
		// bear any timestamp: they must not end a frame.
		return d.res
	}
	d.beginPacket(pkt.Timestamp)
	d.depacketize(pkt.Payload)
	if pkt.Marker {
		d.closeFrame()
	}
	return d.res
}

// Flush ends the frame being assembled, for the end of a stream whose last
// frame had no marker bit.
func (d *H264Depacketizer) Flush() H264Result {
	d.res = H264Result{}
	d.closeFrame()
	return d.res
}

// advanceSeq reports whether packets were lost before seq and whether seq
// is new at all (not a duplicate or a straggler from the past, judged with
// RFC 3550 §A.1 serial-number arithmetic).
func (d *H264Depacketizer) advanceSeq(seq uint16) (gap, fresh bool) {
	if !d.haveSeq {
		d.haveSeq, d.lastSeq = true, seq
		return false, true
	}
	diff := seq - d.lastSeq
	if diff == 0 || diff >= 0x8000 {
		return false, false
	}
	d.lastSeq = seq
	if diff > 1 {
		d.stats.LostPackets += uint64(diff - 1)
		return true, true
	}
	return false, true
}

// beginPacket ends the open frame on a timestamp change and decides which
// frame a preceding loss broke.
func (d *H264Depacketizer) beginPacket(ts uint32) {
	gap := d.gapPending
	d.gapPending = false
	if d.open && ts != d.ts {
		if gap {
			// The lost packets may have been this frame's tail, marker
			// included. If they were the next frame's head instead, the
			// slice check in classify catches that.
			d.markBroken()
		}
		d.closeFrame()
	} else if gap && d.open {
		d.markBroken()
	}
	if !d.open {
		d.startFrame(ts)
	}
}

func (d *H264Depacketizer) startFrame(ts uint32) {
	d.open, d.ts = true, ts
	d.broken, d.sawIDR, d.sawVCL, d.inFU = false, false, false, false
	if d.data == nil {
		d.data = make([]byte, 0, max(d.sizeHint+d.sizeHint/4, 1500))
	}
	d.data, d.spans = d.data[:0], d.spans[:0]
}

// depacketize dispatches on the payload's NAL unit type (RFC 6184 §5.4).
func (d *H264Depacketizer) depacketize(payload []byte) {
	t := payload[0] & 0x1f
	if t != naluFUA && d.inFU {
		d.markBroken() // the fragmented NAL unit never got its end
	}
	switch {
	case t >= 1 && t <= 23:
		d.appendNAL(payload)
	case t == naluSTAPA:
		d.unpackSTAPA(payload[1:])
	case t == naluFUA:
		d.unpackFUA(payload)
	default:
		// Type 0 and 30-31 are undefined; STAP-B, MTAP and FU-B belong to
		// the interleaved mode, which castnet never negotiates.
		d.malformed()
	}
}

// unpackSTAPA splits a single-time aggregation packet (RFC 6184 §5.7.1):
// each NAL unit behind a 16-bit size.
func (d *H264Depacketizer) unpackSTAPA(b []byte) {
	if len(b) == 0 {
		d.malformed()
		return
	}
	for len(b) > 0 {
		if len(b) < 2 {
			d.malformed()
			return
		}
		n := int(b[0])<<8 | int(b[1])
		b = b[2:]
		if n == 0 || n > len(b) {
			d.malformed()
			return
		}
		d.appendNAL(b[:n])
		b = b[n:]
	}
}

// unpackFUA joins fragmentation units (RFC 6184 §5.8). The NAL header is
// rebuilt from the FU indicator's F and NRI bits and the FU header's type.
func (d *H264Depacketizer) unpackFUA(b []byte) {
	if len(b) < 2 {
		d.malformed()
		return
	}
	indicator, header, frag := b[0], b[1], b[2:]
	start, end, t := header&0x80 != 0, header&0x40 != 0, header&0x1f
	if t == naluIDR {
		d.sawIDR = true // known even from a fragment whose start was lost
	}
	switch {
	case start:
		if d.inFU {
			d.markBroken() // a new start before the last one ended
		}
		if d.broken || !d.room(1+len(frag)) {
			return
		}
		d.fuStart, d.inFU, d.fuType = len(d.data), true, t
		d.data = append(d.data, indicator&0xe0|t)
	case !d.inFU:
		d.markBroken() // its start was lost
		return
	case t != d.fuType:
		// RFC 6184 §5.8: every fragment carries the type of the NAL
		// unit it belongs to; a different one is a fragment of
		// something else, spliced in.
		d.malformed()
		return
	}
	if !d.room(len(frag)) {
		return
	}
	d.data = append(d.data, frag...)
	if end {
		d.inFU = false
		d.finishNAL(d.fuStart)
	}
}

// appendNAL copies a whole NAL unit into the frame.
func (d *H264Depacketizer) appendNAL(nal []byte) {
	if d.broken {
		d.classify(nal) // still learn parameter sets
		return
	}
	if !d.room(len(nal)) {
		return
	}
	start := len(d.data)
	d.data = append(d.data, nal...)
	d.finishNAL(start)
}

// finishNAL keeps or discards the NAL unit just completed at data[start:].
func (d *H264Depacketizer) finishNAL(start int) {
	keep := d.classify(d.data[start:])
	switch {
	case d.broken:
		d.discardData()
	case keep:
		d.spans = append(d.spans, span{start, len(d.data)})
	default:
		d.data = d.data[:start]
	}
}

// classify notes what a NAL unit means for the frame and reports whether it
// belongs in the output. Parameter sets are cached and re-inserted in front
// of each IDR; AUD, end-of-sequence and filler data are dropped.
func (d *H264Depacketizer) classify(nal []byte) bool {
	if nal[0]&0x80 != 0 {
		// forbidden_zero_bit: RFC 6184 §5.3 lets it flag bit errors.
		d.malformed()
		return false
	}
	t := nal[0] & 0x1f
	switch {
	case t == naluSPS:
		d.sps = clone(nal)
		return false
	case t == naluPPS:
		d.pps = clone(nal)
		return false
	case t == 0 || t == naluAUD || t == naluEndSeq || t == naluEndStream || t == naluFiller || t >= naluSTAPA:
		return false
	case t == naluIDR:
		d.sawIDR = true
	}
	if isVCL(t) && !d.sawVCL {
		d.sawVCL = true
		// A picture must start at macroblock 0; otherwise its first
		// slices were lost before we saw any packet of the frame.
		if mb, ok := firstMBInSlice(nal); !ok || mb != 0 {
			d.markBroken()
			return false
		}
	}
	return true
}

// room checks the frame bounds before n more bytes are added, breaking the
// frame when they would be exceeded, and grows the buffer without letting
// append's doubling overshoot the bound.
func (d *H264Depacketizer) room(n int) bool {
	need := len(d.data) + n
	if need > MaxH264FrameBytes || len(d.spans) >= MaxH264FrameNALUs {
		d.markBroken()
		return false
	}
	if need > cap(d.data) {
		grown := make([]byte, len(d.data), min(max(2*cap(d.data), need), MaxH264FrameBytes))
		copy(grown, d.data)
		d.data = grown
	}
	return true
}

func (d *H264Depacketizer) malformed() {
	d.stats.Malformed++
	d.markBroken()
}

// markBroken dooms the open frame and frees what it held.
func (d *H264Depacketizer) markBroken() {
	d.broken = true
	d.discardData()
}

func (d *H264Depacketizer) discardData() {
	d.inFU = false
	if d.data != nil {
		d.data = d.data[:0]
	}
	d.spans = d.spans[:0]
}

// closeFrame ends the open frame and emits it when whole.
func (d *H264Depacketizer) closeFrame() {
	if !d.open {
		return
	}
	d.open = false
	if d.inFU {
		d.markBroken() // the last fragment (with the marker) never came
	}
	switch {
	case d.broken:
		d.drop(d.sawIDR)
	case !d.sawVCL:
		// Only parameter sets or SEI under their own timestamp: cached,
		// nothing to show.
	case d.sawIDR && (d.sps == nil || d.pps == nil):
		d.drop(true) // undecodable without parameter sets: ask for more
	default:
		d.emit()
	}
}

func (d *H264Depacketizer) drop(keyframe bool) {
	d.res.Dropped++
	d.stats.Dropped++
	if keyframe {
		d.res.KeyframeLost = true
		d.stats.KeyframesLost++
	}
}

// emit hands the frame's buffer to the caller, with the cached parameter
// sets in front of an IDR.
func (d *H264Depacketizer) emit() {
	n := len(d.spans)
	if d.sawIDR {
		n += 2
	}
	nalus := make([][]byte, 0, n)
	if d.sawIDR {
		nalus = append(nalus, clone(d.sps), clone(d.pps))
	}
	for _, s := range d.spans {
		nalus = append(nalus, d.data[s.start:s.end:s.end])
	}
	d.res.Frames = append(d.res.Frames, H264Frame{Timestamp: d.ts, Keyframe: d.sawIDR, NALUs: nalus})
	d.stats.Frames++
	if d.sawIDR {
		d.stats.Keyframes++
	}
	d.sizeHint = len(d.data)
	d.data = nil // now owned by the frame
	d.spans = d.spans[:0]
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
