package mpegts_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
)

// aud is the access unit delimiter the muxer puts before frames lacking one.
var aud = []byte{0, 0, 0, 1, 0x09, 0xF0}

// adts returns an AAC frame with a plausible ADTS header.
func adts(n int) []byte {
	return append([]byte{0xFF, 0xF1, 0x50, 0x80, 0x00, 0x1F, 0xFC}, bytes.Repeat([]byte{0x21}, n)...)
}

type unit struct {
	video    bool
	pts, dts time.Duration
	key      bool
	data     []byte
}

// sampleUnits is a short stream: big and small frames (one exactly filling
// packets, one with a DTS) interleaved with audio.
func sampleUnits() []unit {
	return []unit{
		{video: true, pts: time.Second, dts: time.Second, key: true, data: frame(20000, true)},
		{pts: time.Second, data: []byte("audio-1")},
		{video: true, pts: 1100 * time.Millisecond, dts: 1033 * time.Millisecond, data: frame(184*3-19-6-5, false)},
		{pts: 1020 * time.Millisecond, data: bytes.Repeat([]byte{7}, 300)},
		{video: true, pts: 1066 * time.Millisecond, dts: 1066 * time.Millisecond, data: append(append([]byte{}, aud...), frame(1, false)...)},
		{pts: 1040 * time.Millisecond, data: []byte{1}},
	}
}

func muxUnits(t *testing.T, cfg mpegts.MuxerConfig, units []unit) []byte {
	t.Helper()
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, cfg)
	for _, u := range units {
		var err error
		if u.video {
			err = m.WriteVideo(u.pts, u.dts, u.key, u.data)
		} else {
			err = m.WriteAudio(u.pts, u.data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		audio     mpegts.AudioCodec
		codec     media.Codec
		wrapAudio func([]byte) []byte
		unwrap    func([]byte) []byte
	}{
		{"h264 and opus", mpegts.AudioOpus, media.CodecOpus, func(b []byte) []byte { return b }, func(b []byte) []byte {
			pkts, err := mpegts.SplitOpus(b)
			if err != nil || len(pkts) != 1 {
				return nil
			}
			return pkts[0]
		}},
		{"h264 and aac", mpegts.AudioAAC, mpegts.CodecAAC, func(b []byte) []byte { return append(adts(0), b...) }, func(b []byte) []byte { return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			units := sampleUnits()
			for i := range units {
				if !units[i].video {
					units[i].data = tt.wrapAudio(units[i].data)
				}
			}
			got := demuxAll(t, muxUnits(t, mpegts.MuxerConfig{Video: true, Audio: tt.audio}, units))
			if len(got) != len(units) {
				t.Fatalf("%d PES, want %d", len(got), len(units))
			}
			// Video PES end only where the next video PES starts, so they
			// may come out after the audio written later; compare per track.
			var gv, ga []*mpegts.PES
			for _, p := range got {
				if p.PID == mpegts.PIDVideo {
					gv = append(gv, p)
				} else {
					ga = append(ga, p)
				}
			}
			for _, u := range units {
				var p *mpegts.PES
				if u.video {
					p, gv = gv[0], gv[1:]
					checkVideo(t, p, u)
				} else {
					p, ga = ga[0], ga[1:]
					if p.Codec != tt.codec || !bytes.Equal(tt.unwrap(p.Data), u.data) || p.PTS != u.pts || p.HasDTS || !p.RandomAccess {
						t.Errorf("audio PES %+v, want %q at %v", p, u.data, u.pts)
					}
				}
			}
		})
	}
}

func checkVideo(t *testing.T, p *mpegts.PES, u unit) {
	t.Helper()
	want := u.data
	if !bytes.HasPrefix(want, aud) {
		want = append(append([]byte{}, aud...), want...)
	}
	if p.Codec != media.CodecH264 || p.StreamType != mpegts.StreamTypeH264 || !bytes.Equal(p.Data, want) {
		t.Errorf("video PES %v/%#x of %d bytes, want h264 of %d", p.Codec, p.StreamType, len(p.Data), len(want))
	}
	if !p.HasPTS || p.PTS != u.pts || p.HasDTS != (u.pts != u.dts) || (p.HasDTS && p.DTS != u.dts) {
		t.Errorf("video PES pts %v dts %v (%v), want %v %v", p.PTS, p.DTS, p.HasDTS, u.pts, u.dts)
	}
	if p.RandomAccess != u.key {
		t.Errorf("random access = %v, want %v", p.RandomAccess, u.key)
	}
}

// nextAll calls Next until io.EOF and returns the PES and errors seen.
func nextAll(t *testing.T, data []byte) ([]*mpegts.PES, []error) {
	t.Helper()
	d := mpegts.NewDemuxer(bytes.NewReader(data))
	var pes []*mpegts.PES
	var errs []error
	for range 10000 {
		p, err := d.Next()
		switch {
		case errors.Is(err, io.EOF):
			return pes, errs
		case err != nil:
			errs = append(errs, err)
		default:
			pes = append(pes, p)
		}
	}
	t.Fatal("Next never returned io.EOF")
	return nil, nil
}

func TestDemuxerRecoversFromDamage(t *testing.T) {
	clean := muxUnits(t, mpegts.MuxerConfig{Video: true, Audio: mpegts.AudioOpus}, sampleUnits())
	const P = mpegts.PacketSize
	splice := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// Packet 2 is the first of the IDR's PES; the IDR spans packets 2–111.
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		wantPES int
	}{
		{"garbage between packets", splice(clean[:5*P], []byte("\x47garbage\x47\x47"), clean[5*P:]), mpegts.ErrSync, 6},
		{"garbage before the first packet", splice([]byte{1, 2, 0x47, 3}, clean), mpegts.ErrSync, 6},
		{"a truncated last packet", clean[:len(clean)-100], mpegts.ErrSync, 5}, // the last audio PES is lost
		{"a packet lost inside the IDR", splice(clean[:50*P], clean[51*P:]), mpegts.ErrCorrupt, 5},
		{"a duplicated packet", splice(clean[:51*P], clean[50*P:]), nil, 6},
		{"a corrupt PMT before any stream is known", splice(clean[:P], corruptByte(clean[P:2*P], 20), clean[2*P:]), mpegts.ErrCorrupt, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pes, errs := nextAll(t, tt.in)
			if tt.wantErr == nil && len(errs) > 0 {
				t.Errorf("errors %v, want none", errs)
			}
			if tt.wantErr != nil && (len(errs) == 0 || !errors.Is(errs[0], tt.wantErr)) {
				t.Errorf("errors %v, want %v", errs, tt.wantErr)
			}
			if len(pes) != tt.wantPES {
				t.Errorf("%d PES, want %d", len(pes), tt.wantPES)
			}
		})
	}
}

func corruptByte(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0xFF
	return c
}

func TestDemuxerKeepsPESAcrossRepeatedTables(t *testing.T) {
	// A segmenter writes PAT and PMT at each segment start, while the last
	// frame of the previous segment (an unbounded PES) is still open.
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	for i := range 4 {
		if err := m.WriteTables(); err != nil {
			t.Fatal(err)
		}
		pts := time.Duration(i) * time.Second
		if err := m.WriteVideo(pts, pts, true, frame(500, true)); err != nil {
			t.Fatal(err)
		}
	}
	if got := demuxAll(t, buf.Bytes()); len(got) != 4 {
		t.Fatalf("%d PES, want 4", len(got))
	}
}

func TestDemuxerIgnoresStreamsBeforeTheirPMT(t *testing.T) {
	data := muxUnits(t, mpegts.MuxerConfig{Video: true, Audio: mpegts.AudioOpus}, sampleUnits())
	// Without the PAT and PMT (the first two packets) no PID is known.
	if got := demuxAll(t, data[2*mpegts.PacketSize:]); len(got) != 0 {
		t.Fatalf("%d PES without a PMT, want 0", len(got))
	}
}
