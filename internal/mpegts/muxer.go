package mpegts

import (
	"fmt"
	"io"
	"time"
)

// AudioCodec selects the muxer's audio stream.
type AudioCodec uint8

// The audio streams the muxer can carry.
const (
	AudioNone AudioCodec = iota
	AudioOpus            // stream_type 0x06, private_stream_1, Opus-in-TS control headers
	AudioAAC             // stream_type 0x0F, ADTS frames as given
)

// pcrInterval is the longest gap between PCRs; §2.7.2 allows 100 ms.
const pcrInterval = 100 * time.Millisecond

// pcrLead is how far the PCR runs behind the DTS of the frame it travels
// with, so that a decoder following the PCR has each frame before it is due.
const pcrLead = 100 * time.Millisecond

// MuxerConfig says which streams a Muxer writes.
type MuxerConfig struct {
	Video         bool       // one H.264 stream on PIDVideo
	Audio         AudioCodec // at most one audio stream on PIDAudio
	AudioChannels int        // Opus channel count (1–8) for the PMT; 0 means 2
}

// Muxer writes one program's PAT, PMT and PES packets. Each call writes
// whole packets to w with a single Write. A Muxer is not safe for concurrent
// use.
type Muxer struct {
	w        io.Writer
	cfg      MuxerConfig
	pcrPID   uint16
	pat, pmt []byte
	cc       map[uint16]*uint8
	out      []byte   // reused packet buffer
	chunks   [][]byte // reused PES chunk list: chunks[0] is the PES header
	hdr      []byte   // reused PES header
	ctrl     []byte   // reused Opus control header
	aud      []byte   // access unit delimiter NAL unit with its start code
	sc       []byte   // 4-byte Annex B start code
	lastPCR  time.Duration
	hasPCR   bool
	tables   bool // tables written at least once
}

// NewMuxer returns a Muxer writing the streams cfg names to w. The PCR
// travels on the video PID, or on the audio PID when there is no video.
func NewMuxer(w io.Writer, cfg MuxerConfig) *Muxer {
	if cfg.AudioChannels <= 0 || cfg.AudioChannels > 8 {
		cfg.AudioChannels = 2
	}
	m := &Muxer{w: w, cfg: cfg, pcrPID: PIDVideo, cc: map[uint16]*uint8{},
		// nal_unit_type 9, primary_pic_type 7 (any slice type), then the
		// RBSP stop bit (H.264 §7.3.2.4).
		aud: []byte{0, 0, 0, 1, nalAUD, 0xF0},
		sc:  []byte{0, 0, 0, 1},
	}
	var streams []esInfo
	if cfg.Video {
		streams = append(streams, esInfo{streamType: StreamTypeH264, pid: PIDVideo})
	} else {
		m.pcrPID = PIDAudio
	}
	switch cfg.Audio {
	case AudioOpus:
		streams = append(streams, esInfo{StreamTypePrivate, PIDAudio, opusDescriptors(cfg.AudioChannels)})
	case AudioAAC:
		streams = append(streams, esInfo{streamType: StreamTypeAAC, pid: PIDAudio})
	}
	for _, pid := range []uint16{PIDPAT, PIDPMT, PIDVideo, PIDAudio} {
		m.cc[pid] = new(uint8)
	}
	m.pat = buildPAT()
	m.pmt = buildPMT(m.pcrPID, streams)
	return m
}

// WriteTables writes the PAT and PMT. Call it at the start of every segment
// so each one can be decoded on its own; the muxer also writes them before
// the first PES if nobody did.
func (m *Muxer) WriteTables() error {
	m.out = appendSection(m.out[:0], PIDPAT, m.cc[PIDPAT], m.pat)
	m.out = appendSection(m.out, PIDPMT, m.cc[PIDPMT], m.pmt)
	m.tables = true
	return m.flush()
}

// WriteVideo writes one H.264 access unit in Annex B framing (start codes
// before every NAL unit). dts equals pts for streams without B-frames; the
// DTS field is written only when they differ. An access unit delimiter is
// added in front when the unit lacks one, as HLS and some decoders expect.
func (m *Muxer) WriteVideo(pts, dts time.Duration, keyframe bool, annexB []byte) error {
	if !m.cfg.Video {
		return fmt.Errorf("%w: no video stream configured", ErrInvalid)
	}
	sc := startCodeLen(annexB)
	if sc == 0 {
		return fmt.Errorf("%w: video data does not begin with an Annex B start code", ErrInvalid)
	}
	m.chunks = append(m.chunks[:0], nil)
	if annexB[sc]&0x1F != nalAUD {
		m.chunks = append(m.chunks, m.aud)
	}
	m.chunks = append(m.chunks, annexB)
	return m.writeVideo(pts, dts, keyframe)
}

// WriteVideoNALUs is WriteVideo for NAL units without start codes, as
// media.AccessUnit holds them; it frames them without joining them first.
func (m *Muxer) WriteVideoNALUs(pts, dts time.Duration, keyframe bool, nalus [][]byte) error {
	if !m.cfg.Video {
		return fmt.Errorf("%w: no video stream configured", ErrInvalid)
	}
	m.chunks = append(m.chunks[:0], nil)
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if len(m.chunks) == 1 && n[0]&0x1F != nalAUD {
			m.chunks = append(m.chunks, m.aud)
		}
		m.chunks = append(m.chunks, m.sc, n)
	}
	if len(m.chunks) == 1 {
		return fmt.Errorf("%w: access unit without NAL units", ErrInvalid)
	}
	return m.writeVideo(pts, dts, keyframe)
}

// writeVideo packetizes m.chunks[1:] behind a PES header on the video PID.
func (m *Muxer) writeVideo(pts, dts time.Duration, keyframe bool) error {
	if err := m.ensureTables(); err != nil {
		return err
	}
	// PES_packet_length 0 (unbounded) is allowed for video in transport
	// streams (§2.4.3.7) and spares a size limit on large IDR frames.
	m.hdr = appendPESHeader(m.hdr[:0], streamIDVideo, 0, pts, dts)
	m.chunks[0] = m.hdr
	af := adaptation{randomAccess: keyframe}
	if pcr, ok := m.pcrDue(dts, keyframe); ok {
		af.hasPCR, af.pcr = true, pcr
	}
	return m.writePES(PIDVideo, af)
}

// WriteAudio writes one audio frame: an Opus packet (the muxer adds the
// Opus-in-TS control header) or one or more ADTS AAC frames.
func (m *Muxer) WriteAudio(pts time.Duration, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty audio frame", ErrInvalid)
	}
	if err := m.ensureTables(); err != nil {
		return err
	}
	m.chunks = m.chunks[:0]
	var sid byte
	switch m.cfg.Audio {
	case AudioOpus:
		sid = streamIDPrivate1
		m.ctrl = appendOpusControl(m.ctrl[:0], len(data))
		m.chunks = append(m.chunks, nil, m.ctrl, data)
	case AudioAAC:
		if len(data) < 7 || data[0] != 0xFF || data[1]&0xF0 != 0xF0 {
			return fmt.Errorf("%w: AAC frame without ADTS header", ErrInvalid)
		}
		sid = streamIDAudio
		m.chunks = append(m.chunks, nil, data)
	default:
		return fmt.Errorf("%w: no audio stream configured", ErrInvalid)
	}
	n := 0
	for _, c := range m.chunks {
		n += len(c)
	}
	if n+3+5 > 0xFFFF {
		return fmt.Errorf("%w: audio PES of %d bytes", ErrTooLarge, n)
	}
	m.hdr = appendPESHeader(m.hdr[:0], sid, n, pts, pts)
	m.chunks[0] = m.hdr
	af := adaptation{randomAccess: true} // every audio frame decodes on its own
	if m.pcrPID == PIDAudio {
		if pcr, ok := m.pcrDue(pts, false); ok {
			af.hasPCR, af.pcr = true, pcr
		}
	} else if pcr, ok := m.pcrDue(pts, false); ok {
		// Video frames may be far apart (a still screen at 1 fps); keep the
		// PCR on the video PID within its 100 ms by a packet with only an
		// adaptation field.
		m.out = appendPCROnly(m.out[:0], PIDVideo, *m.cc[PIDVideo], pcr)
		if err := m.flush(); err != nil {
			return err
		}
	}
	return m.writePES(PIDAudio, af)
}

// pcrDue reports whether a PCR is due for a unit decoded at dts — always at
// keyframes, otherwise at most pcrInterval apart — and its value, which
// never goes backwards.
func (m *Muxer) pcrDue(dts time.Duration, force bool) (uint64, bool) {
	t := max(dts-pcrLead, 0)
	if m.hasPCR {
		t = max(t, m.lastPCR)
		if !force && t-m.lastPCR < pcrInterval {
			return 0, false
		}
	}
	m.lastPCR, m.hasPCR = t, true
	return Ticks(t), true
}

// ensureTables writes the tables unless they were written before.
func (m *Muxer) ensureTables() error {
	if m.tables {
		return nil
	}
	return m.WriteTables()
}

// writePES writes the PES in m.chunks.
func (m *Muxer) writePES(pid uint16, af adaptation) error {
	m.out = appendPES(m.out[:0], pid, m.cc[pid], af, m.chunks)
	return m.flush()
}

func (m *Muxer) flush() error {
	if _, err := m.w.Write(m.out); err != nil {
		return fmt.Errorf("mpegts: write: %w", err)
	}
	return nil
}
