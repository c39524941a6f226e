package mpegts_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts"
)

// tsPacket is what a test reads from one transport packet.
type tsPacket struct {
	pid          uint16
	start        bool
	cc           int
	hasPayload   bool
	randomAccess bool
	hasPCR       bool
	pcr          time.Duration
}

func parsePackets(t *testing.T, b []byte) []tsPacket {
	t.Helper()
	if len(b)%mpegts.PacketSize != 0 {
		t.Fatalf("output of %d bytes is not whole packets", len(b))
	}
	var out []tsPacket
	for ; len(b) > 0; b = b[mpegts.PacketSize:] {
		if b[0] != 0x47 {
			t.Fatalf("packet without sync byte")
		}
		p := tsPacket{
			pid: uint16(b[1]&0x1F)<<8 | uint16(b[2]), start: b[1]&0x40 != 0,
			cc: int(b[3] & 0x0F), hasPayload: b[3]&0x10 != 0,
		}
		if b[3]&0x20 != 0 && b[4] > 0 {
			p.randomAccess = b[5]&0x40 != 0
			if p.hasPCR = b[5]&0x10 != 0; p.hasPCR {
				base := uint64(b[6])<<25 | uint64(b[7])<<17 | uint64(b[8])<<9 | uint64(b[9])<<1 | uint64(b[10]>>7)
				p.pcr = mpegts.TicksToDuration(base)
			}
		}
		out = append(out, p)
	}
	return out
}

// frame returns an Annex B access unit of n bytes: an IDR or non-IDR slice.
func frame(n int, idr bool) []byte {
	nalType := byte(0x41)
	if idr {
		nalType = 0x65
	}
	b := append([]byte{0, 0, 0, 1, nalType}, bytes.Repeat([]byte{0x88}, n)...)
	return b
}

func TestMuxerPacketRules(t *testing.T) {
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true, Audio: mpegts.AudioOpus})
	if err := m.WriteTables(); err != nil {
		t.Fatal(err)
	}
	// 2 fps video (frames far apart) with a keyframe every 4 frames, and
	// Opus every 20 ms between them.
	for i := range 8 {
		pts := time.Second + time.Duration(i)*500*time.Millisecond
		if err := m.WriteVideo(pts, pts, i%4 == 0, frame(100+i*300, i%4 == 0)); err != nil {
			t.Fatal(err)
		}
		for j := range 25 {
			if err := m.WriteAudio(pts+time.Duration(j)*20*time.Millisecond, []byte{0xFC, 1, 2, 3}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pkts := parsePackets(t, buf.Bytes())

	t.Run("continuity counters advance by one per payload packet", func(t *testing.T) {
		last := map[uint16]int{}
		for i, p := range pkts {
			if !p.hasPayload {
				continue
			}
			if l, ok := last[p.pid]; ok && p.cc != (l+1)&0x0F {
				t.Fatalf("packet %d PID %#x cc %d after %d", i, p.pid, p.cc, l)
			}
			last[p.pid] = p.cc
		}
	})
	t.Run("keyframes carry random access and PCR on the video PID", func(t *testing.T) {
		keyframes := 0
		for _, p := range pkts {
			if p.pid == mpegts.PIDVideo && p.start && p.randomAccess {
				keyframes++
				if !p.hasPCR {
					t.Error("keyframe PES without PCR")
				}
			}
		}
		if keyframes != 2 {
			t.Errorf("keyframes with random_access_indicator = %d, want 2", keyframes)
		}
	})
	t.Run("PCR is on the video PID, at most 100ms apart, never backwards", func(t *testing.T) {
		var last time.Duration = -1
		for _, p := range pkts {
			if !p.hasPCR {
				continue
			}
			if p.pid != mpegts.PIDVideo {
				t.Fatalf("PCR on PID %#x", p.pid)
			}
			if last >= 0 && (p.pcr < last || p.pcr-last > 100*time.Millisecond+time.Millisecond) {
				t.Fatalf("PCR %v after %v", p.pcr, last)
			}
			last = p.pcr
		}
		if last < 0 {
			t.Fatal("no PCR at all")
		}
	})
}

func TestMuxerPutsPCROnAudioWithoutVideo(t *testing.T) {
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Audio: mpegts.AudioOpus})
	for j := range 50 {
		if err := m.WriteAudio(time.Duration(j)*20*time.Millisecond, []byte{0xFC, 1}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, p := range parsePackets(t, buf.Bytes()) {
		if p.hasPCR {
			n++
			if p.pid != mpegts.PIDAudio {
				t.Fatalf("PCR on PID %#x", p.pid)
			}
		}
	}
	if n < 9 {
		t.Errorf("%d PCRs in 1s of audio, want one per 100ms", n)
	}
}

func TestMuxerRejectsBadInput(t *testing.T) {
	tests := []struct {
		name  string
		cfg   mpegts.MuxerConfig
		write func(m *mpegts.Muxer) error
		want  error
	}{
		{"video without start code", mpegts.MuxerConfig{Video: true}, func(m *mpegts.Muxer) error {
			return m.WriteVideo(0, 0, true, []byte{0x65, 1, 2})
		}, mpegts.ErrInvalid},
		{"video when none configured", mpegts.MuxerConfig{Audio: mpegts.AudioOpus}, func(m *mpegts.Muxer) error {
			return m.WriteVideo(0, 0, true, frame(10, true))
		}, mpegts.ErrInvalid},
		{"access unit without NAL units", mpegts.MuxerConfig{Video: true}, func(m *mpegts.Muxer) error {
			return m.WriteVideoNALUs(0, 0, true, [][]byte{{}})
		}, mpegts.ErrInvalid},
		{"audio when none configured", mpegts.MuxerConfig{Video: true}, func(m *mpegts.Muxer) error {
			return m.WriteAudio(0, []byte{1})
		}, mpegts.ErrInvalid},
		{"empty audio", mpegts.MuxerConfig{Audio: mpegts.AudioOpus}, func(m *mpegts.Muxer) error {
			return m.WriteAudio(0, nil)
		}, mpegts.ErrInvalid},
		{"AAC without ADTS header", mpegts.MuxerConfig{Audio: mpegts.AudioAAC}, func(m *mpegts.Muxer) error {
			return m.WriteAudio(0, []byte{1, 2, 3, 4, 5, 6, 7, 8})
		}, mpegts.ErrInvalid},
		{"audio frame over a PES", mpegts.MuxerConfig{Audio: mpegts.AudioOpus}, func(m *mpegts.Muxer) error {
			return m.WriteAudio(0, make([]byte, 70000))
		}, mpegts.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(mpegts.NewMuxer(&buf, tt.cfg)); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMuxerReportsWriteErrors(t *testing.T) {
	m := mpegts.NewMuxer(failWriter{}, mpegts.MuxerConfig{Video: true})
	if err := m.WriteVideo(0, 0, true, frame(10, true)); !errors.Is(err, errBoom) {
		t.Errorf("err = %v, want the writer's", err)
	}
}

var errBoom = errors.New("boom")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBoom }
