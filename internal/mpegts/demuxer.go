package mpegts

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/castnet/castnet/internal/media"
)

// MaxPESSize bounds the PES packets the Demuxer assembles; a larger one is
// dropped with ErrTooLarge, so hostile input cannot grow memory without end.
const MaxPESSize = 32 << 20

// maxBuffered bounds the bytes held across all streams' unfinished PES
// packets, however many streams a PMT lists.
const maxBuffered = 2 * MaxPESSize

// CodecAAC names AAC audio, which internal/media does not ingest but
// transport streams may carry.
const CodecAAC media.Codec = "aac"

// PES is one complete PES packet's payload with what the PMT and headers
// say about it.
type PES struct {
	PID          uint16
	StreamType   uint8       // from the PMT
	Codec        media.Codec // from the stream type and descriptors; "" when unknown
	StreamID     uint8
	PTS, DTS     time.Duration // 33-bit 90 kHz values as read, never unwrapped
	HasPTS       bool
	HasDTS       bool // when false, DTS equals PTS
	RandomAccess bool // random_access_indicator on the PES's first packet
	Data         []byte
}

// Demuxer reads PES packets from a transport stream. It follows the first
// program of the PAT and returns the PES packets of the streams its PMT
// lists; other PIDs are skipped.
//
// A video PES without a length ends only where the next one on its PID
// starts, so a live stream's latest frame comes out one frame late, or at
// EOF.
type Demuxer struct {
	br      *bufio.Reader
	pmtPID  int // -1 until a PAT names it
	psi     map[uint16]*sectionBuf
	streams map[uint16]*pesStream
	order   []uint16 // stream PIDs in PMT order, for flushing at EOF
	ready   []*PES
	eof     bool
	pkt     [PacketSize]byte
}

// pesStream assembles the PES packets of one elementary stream.
type pesStream struct {
	info         esInfo
	codec        media.Codec
	cc           int // last continuity counter, -1 before the first packet
	buf          []byte
	active       bool // buf holds the start of a PES
	randomAccess bool
}

// sectionBuf assembles one PSI section that may span packets.
type sectionBuf struct {
	buf    []byte
	active bool
}

// NewDemuxer returns a Demuxer reading r.
func NewDemuxer(r io.Reader) *Demuxer {
	return &Demuxer{
		br:      bufio.NewReaderSize(r, 64*PacketSize),
		pmtPID:  -1,
		psi:     map[uint16]*sectionBuf{PIDPAT: {}},
		streams: map[uint16]*pesStream{},
	}
}

// Next returns the next complete PES packet. At the end of input it
// returns io.EOF after the last PES. Damage is reported by errors wrapping
// ErrSync, ErrCorrupt or ErrTooLarge; the damaged data has been skipped, and
// Next may be called again to go on. Any other error comes from the reader.
func (d *Demuxer) Next() (*PES, error) {
	for len(d.ready) == 0 {
		if d.eof {
			return nil, io.EOF
		}
		pkt, err := d.readPacket()
		if errors.Is(err, io.EOF) {
			d.eof = true
			d.flushAll()
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := d.handlePacket(pkt); err != nil {
			return nil, err
		}
	}
	p := d.ready[0]
	d.ready = d.ready[1:]
	return p, nil
}

// readPacket returns the next 188-byte packet. When the sync byte is not
// where it should be, it skips to the next offset holding a sync byte that
// is followed, one packet later, by another (or by the end of input), and
// reports the skip as ErrSync.
func (d *Demuxer) readPacket() ([]byte, error) {
	skipped := 0
	for {
		b, err := d.br.Peek(PacketSize + 1)
		if len(b) < PacketSize {
			if len(b) > 0 && err == io.EOF {
				d.br.Discard(len(b))
				return nil, fmt.Errorf("%w: %d trailing bytes", ErrSync, len(b))
			}
			return nil, err
		}
		if b[0] == syncByte && (len(b) == PacketSize || b[PacketSize] == syncByte) {
			if skipped > 0 {
				return nil, fmt.Errorf("%w: skipped %d bytes", ErrSync, skipped)
			}
			copy(d.pkt[:], b)
			d.br.Discard(PacketSize)
			return d.pkt[:], nil
		}
		d.br.Discard(1)
		skipped++
	}
}

// handlePacket routes one packet's payload to the PSI or PES assembler.
func (d *Demuxer) handlePacket(pkt []byte) error {
	if pkt[1]&0x80 != 0 {
		return fmt.Errorf("%w: transport_error_indicator set", ErrCorrupt)
	}
	pid := uint16(pkt[1]&0x1F)<<8 | uint16(pkt[2])
	start := pkt[1]&0x40 != 0
	afc, cc := pkt[3]>>4&0x3, int(pkt[3]&0x0F)
	payload := pkt[4:]
	var randomAccess, discontinuity bool
	if afc&0x2 != 0 {
		n := int(payload[0])
		if n > 183 || (afc == 0x3 && n > 182) {
			return fmt.Errorf("%w: adaptation_field_length %d on PID %#x", ErrCorrupt, n, pid)
		}
		if n > 0 {
			discontinuity = payload[1]&0x80 != 0
			randomAccess = payload[1]&0x40 != 0
		}
		payload = payload[1+n:]
	}
	if afc&0x1 == 0 {
		return nil // no payload: continuity counter does not advance
	}
	if s, ok := d.streams[pid]; ok {
		return d.handlePES(s, start, cc, discontinuity, randomAccess, payload)
	}
	if sb, ok := d.psi[pid]; ok {
		return d.handlePSI(pid, sb, start, payload)
	}
	return nil
}

// handlePES adds a packet's payload to its stream's PES.
func (d *Demuxer) handlePES(s *pesStream, start bool, cc int, disc, ra bool, payload []byte) error {
	want := (s.cc + 1) & 0x0F
	last := s.cc
	s.cc = cc
	var err error
	switch {
	case last < 0 || disc || cc == want:
	case cc == last:
		return nil // a duplicate packet (§2.4.3.3) carries nothing new
	default:
		if s.active {
			err = fmt.Errorf("%w: PID %#x continuity counter %d, want %d; PES dropped", ErrCorrupt, s.info.pid, cc, want)
		}
		s.reset()
	}
	if start {
		if s.active {
			err = d.complete(s)
		}
		s.active, s.randomAccess = true, ra
	}
	if !s.active {
		return err // the middle of a PES whose start we never saw
	}
	if n := len(s.buf) + len(payload); n > MaxPESSize || d.buffered()+len(payload) > maxBuffered {
		s.reset()
		return errors.Join(err, fmt.Errorf("%w: PES on PID %#x over %d bytes", ErrTooLarge, s.info.pid, n))
	}
	s.buf = append(s.buf, payload...)
	if n, ok := pesLength(s.buf); ok && len(s.buf) >= n {
		s.buf = s.buf[:n]
		return errors.Join(err, d.complete(s))
	}
	return err
}

// pesLength returns the total size of a PES whose header says it, and false
// for unbounded ones or while the length field is still missing.
func pesLength(b []byte) (int, bool) {
	if len(b) < 6 {
		return 0, false
	}
	n := int(b[4])<<8 | int(b[5])
	return 6 + n, n != 0
}

// complete parses the stream's assembled PES and queues it.
func (d *Demuxer) complete(s *pesStream) error {
	buf, ra := s.buf, s.randomAccess
	s.buf, s.active, s.randomAccess = nil, false, false
	h, err := parsePES(buf)
	if err != nil {
		return fmt.Errorf("PID %#x: %w", s.info.pid, err)
	}
	d.ready = append(d.ready, &PES{
		PID: s.info.pid, StreamType: s.info.streamType, Codec: s.codec, StreamID: h.streamID,
		PTS: TicksToDuration(h.pts), DTS: TicksToDuration(h.dts),
		HasPTS: h.hasPTS, HasDTS: h.hasDTS, RandomAccess: ra, Data: h.payload,
	})
	return nil
}

// flushAll completes every stream's unfinished PES at end of input.
func (d *Demuxer) flushAll() {
	for _, pid := range d.order {
		if s := d.streams[pid]; s.active && len(s.buf) > 0 {
			d.complete(s) // a truncated tail is not worth an error at EOF
		}
	}
}

// buffered returns the bytes held in unfinished PES packets.
func (d *Demuxer) buffered() int {
	n := 0
	for _, s := range d.streams {
		n += len(s.buf)
	}
	return n
}

func (s *pesStream) reset() {
	s.buf, s.active, s.randomAccess = nil, false, false
}

// handlePSI assembles a section on a PSI PID and applies it when complete.
// Sections after the first in a packet are ignored: castnet's tables are
// one section each.
func (d *Demuxer) handlePSI(pid uint16, sb *sectionBuf, start bool, payload []byte) error {
	if start {
		ptr := int(payload[0])
		if 1+ptr > len(payload) {
			sb.active = false
			return fmt.Errorf("%w: pointer_field %d on PID %#x", ErrCorrupt, ptr, pid)
		}
		sb.buf, sb.active = append(sb.buf[:0], payload[1+ptr:]...), true
	} else if sb.active {
		sb.buf = append(sb.buf, payload...)
	}
	if !sb.active || len(sb.buf) < 3 {
		return nil
	}
	if sb.buf[0] == 0xFF {
		sb.active = false // stuffing: no section follows
		return nil
	}
	n := 3 + (int(sb.buf[1]&0x0F)<<8 | int(sb.buf[2]))
	if n > maxSection {
		sb.active = false
		return fmt.Errorf("%w: section of %d bytes on PID %#x", ErrTooLarge, n, pid)
	}
	if len(sb.buf) < n {
		return nil
	}
	sb.active = false
	return d.applySection(pid, sb.buf[:n])
}

// applySection updates the PMT PID from a PAT, or the streams from a PMT.
func (d *Demuxer) applySection(pid uint16, sec []byte) error {
	tableID, _, body, err := parseSection(sec)
	if err != nil {
		return fmt.Errorf("PID %#x: %w", pid, err)
	}
	switch {
	case pid == PIDPAT && tableID == tableIDPAT:
		if p, ok := parsePAT(body); ok && int(p) != d.pmtPID {
			if d.pmtPID >= 0 {
				delete(d.psi, uint16(d.pmtPID))
			}
			d.pmtPID = int(p)
			d.psi[p] = &sectionBuf{}
		}
	case int(pid) == d.pmtPID && tableID == tableIDPMT:
		es, err := parsePMT(body)
		if err != nil {
			return fmt.Errorf("PID %#x: %w", pid, err)
		}
		d.setStreams(es)
	}
	return nil
}

// setStreams installs a PMT's streams. A stream whose PID and type are
// unchanged keeps its state: PMTs repeat at every segment, in the middle of
// PES packets still being assembled.
func (d *Demuxer) setStreams(es []esInfo) {
	old := d.streams
	d.streams, d.order = map[uint16]*pesStream{}, nil
	for _, e := range es {
		if _, dup := d.streams[e.pid]; dup || e.pid == PIDPAT || d.psi[e.pid] != nil {
			continue
		}
		s := old[e.pid]
		if s == nil || s.info.streamType != e.streamType {
			s = &pesStream{cc: -1}
		}
		s.info = esInfo{streamType: e.streamType, pid: e.pid, descriptors: append([]byte(nil), e.descriptors...)}
		s.codec = codecOf(e)
		d.streams[e.pid] = s
		d.order = append(d.order, e.pid)
	}
}

// codecOf names the codec of a PMT entry.
func codecOf(e esInfo) media.Codec {
	switch {
	case e.streamType == StreamTypeH264:
		return media.CodecH264
	case e.streamType == StreamTypeAAC:
		return CodecAAC
	case e.streamType == StreamTypePrivate && hasRegistration(e.descriptors, "Opus"):
		return media.CodecOpus
	}
	return ""
}
