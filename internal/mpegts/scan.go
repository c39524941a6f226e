package mpegts

import (
	"fmt"
	"time"
)

// maxHead is how much of each video PES ScanH264 hands over: enough for
// the access unit delimiter, parameter sets and SEI that precede the
// first slice.
const maxHead = 2048

// ScanFrame is one PES of a segment's H.264 stream, as ScanH264Frames
// hands it over.
type ScanFrame struct {
	HasPTS bool
	PTS    time.Duration // the 33-bit 90 kHz value as read; 0 without HasPTS
	// Head is the first bytes of the PES's elementary stream data (up to
	// 2 KiB, where the parameter sets sit before the first slice). It is
	// reused after the call returns.
	Head []byte
}

// ScanH264 is ScanH264Frames for callers that need no timestamps.
func ScanH264(ts []byte, frame func(hasPTS bool, head []byte) error) error {
	return ScanH264Frames(ts, func(f ScanFrame) error { return frame(f.HasPTS, f.Head) })
}

// ScanH264Frames walks a segment's TS packets without assembling PES
// packets, for counting what a segment holds cheaply: it calls frame for
// each PES of the program's H.264 stream. A packet without sync or a video
// PES that does not start with a PES header is an error.
func ScanH264Frames(ts []byte, frame func(ScanFrame) error) error {
	pmtPID, videoPID := -1, -1
	var cur ScanFrame
	open := false
	flush := func() error {
		if !open {
			return nil
		}
		open = false
		return frame(cur)
	}
	if len(ts)%PacketSize != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(ts)%PacketSize)
	}
	for off := 0; off < len(ts); off += PacketSize {
		p := ts[off : off+PacketSize]
		if p[0] != syncByte {
			return fmt.Errorf("%w: no sync byte at %d", ErrCorrupt, off)
		}
		pid := int(p[1]&0x1F)<<8 | int(p[2])
		pusi := p[1]&0x40 != 0
		afc := p[3] >> 4 & 3
		payload := p[4:]
		if afc&2 != 0 {
			n := int(p[4])
			if 1+n > len(payload) {
				return fmt.Errorf("%w: adaptation field of %d bytes", ErrCorrupt, n)
			}
			payload = payload[1+n:]
		}
		if afc&1 == 0 {
			continue
		}
		switch {
		case pid == 0 && pusi || pid == pmtPID && pusi:
			// A table that does not parse here (one spanning packets,
			// say) is skipped: only the video PID matters, and a segment
			// whose video is never found has no frames.
			if len(payload) < 1 || 1+int(payload[0]) > len(payload) {
				continue
			}
			table, _, body, err := parseSection(payload[1+int(payload[0]):])
			if err != nil {
				continue
			}
			if pid == 0 && table == 0 {
				if p, ok := parsePAT(body); ok {
					pmtPID = int(p)
				}
				continue
			}
			es, err := parsePMT(body)
			if err != nil {
				continue
			}
			for _, e := range es {
				if e.streamType == StreamTypeH264 {
					videoPID = int(e.pid)
					break
				}
			}
		case pid == videoPID && pusi:
			if err := flush(); err != nil {
				return err
			}
			h, err := parsePES(payload)
			if err != nil {
				return err
			}
			open, cur.HasPTS, cur.PTS = true, h.hasPTS, 0
			if h.hasPTS {
				cur.PTS = TicksToDuration(h.pts)
			}
			cur.Head = append(cur.Head[:0], h.payload[:min(len(h.payload), maxHead)]...)
		case pid == videoPID && open && len(cur.Head) < maxHead:
			cur.Head = append(cur.Head, payload[:min(len(payload), maxHead-len(cur.Head))]...)
		}
	}
	return flush()
}
