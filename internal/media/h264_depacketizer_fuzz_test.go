package media

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// Fuzz input format: records of a control byte, a 16-bit big-endian
// payload length and the payload. Control bits: 0 marker, 1 the timestamp
// moves on by 3000, 2-3 the sequence step (0 repeats the last number, 2 and
// 3 skip packets).
const (
	fuzzMarker  = 1 << 0
	fuzzNewTS   = 1 << 1
	fuzzSeqStep = 2
)

// encodeFuzzPackets turns a scenario into fuzz input.
func encodeFuzzPackets(pkts []tp) []byte {
	var out []byte
	for i, p := range pkts {
		var ctrl byte
		if p.marker {
			ctrl |= fuzzMarker
		}
		if i > 0 {
			if p.ts != pkts[i-1].ts {
				ctrl |= fuzzNewTS
			}
			ctrl |= byte(min(p.seq-pkts[i-1].seq, 3)) << fuzzSeqStep
		} else {
			ctrl |= 1 << fuzzSeqStep
		}
		out = append(out, ctrl, byte(len(p.pl)>>8), byte(len(p.pl)))
		out = append(out, p.pl...)
	}
	return out
}

// decodeFuzzPackets is the inverse of encodeFuzzPackets; a short tail is
// taken as it comes.
func decodeFuzzPackets(data []byte) []*rtp.Packet {
	var pkts []*rtp.Packet
	seq, ts := uint16(65530), uint32(1<<32-6000)
	for len(data) >= 3 {
		ctrl, n := data[0], int(data[1])<<8|int(data[2])
		data = data[3:]
		n = min(n, len(data))
		if ctrl&fuzzNewTS != 0 {
			ts += 3000
		}
		seq += uint16(ctrl >> fuzzSeqStep & 3)
		pkts = append(pkts, &rtp.Packet{
			Header:  rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: ctrl&fuzzMarker != 0},
			Payload: data[:n:n],
		})
		data = data[n:]
	}
	return pkts
}

func h264FuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, c := range depacketizerCases() {
		seeds = append(seeds, encodeFuzzPackets(c.pkts))
	}
	return seeds
}

func FuzzH264Depacketizer(f *testing.F) {
	for _, s := range h264FuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewH264Depacketizer()
		// The packets get scribbled over below; the fuzzer's input
		// must stay as it was.
		pkts := decodeFuzzPackets(bytes.Clone(data))
		var frames []H264Frame
		var snapshot [][][]byte
		for _, p := range append(pkts, nil) {
			r := d.Push(p)
			if p == nil {
				r = d.Flush()
			}
			for _, fr := range r.Frames {
				checkFrameInvariants(t, fr)
				frames = append(frames, fr)
				snapshot = append(snapshot, cloneNALUs(fr.NALUs))
			}
		}
		if s := d.Stats(); s.Frames != uint64(len(frames)) || s.Packets != uint64(len(pkts)) {
			t.Fatalf("stats %+v for %d packets, %d frames", s, len(pkts), len(frames))
		}
		// Frames own their bytes: scribbling over the packets must not
		// reach them.
		for _, p := range pkts {
			for i := range p.Payload {
				p.Payload[i] = 0xee
			}
		}
		for i, fr := range frames {
			if !slices.EqualFunc(fr.NALUs, snapshot[i], bytes.Equal) {
				t.Fatalf("frame %d changed when the packet buffers were reused", i)
			}
		}
	})
}

func cloneNALUs(nalus [][]byte) [][]byte {
	out := make([][]byte, len(nalus))
	for i, n := range nalus {
		out[i] = clone(n)
	}
	return out
}

// checkFrameInvariants holds for every frame a depacketizer returns,
// whatever it was fed.
func checkFrameInvariants(t *testing.T, f H264Frame) {
	t.Helper()
	if f.Keyframe && (len(f.NALUs) < 3 || NALUType(f.NALUs[0]) != naluSPS || NALUType(f.NALUs[1]) != naluPPS) {
		t.Fatalf("keyframe does not start with SPS, PPS: %x", f.NALUs)
	}
	body := f.NALUs
	if f.Keyframe {
		body = body[2:]
	}
	size, vcl, idr := 0, false, false
	for _, n := range body {
		if len(n) == 0 || n[0]&0x80 != 0 {
			t.Fatalf("empty or forbidden NAL unit in %x", f.NALUs)
		}
		switch typ := NALUType(n); {
		case typ == naluSPS || typ == naluPPS || typ == naluAUD || typ == 0 || typ >= naluSTAPA:
			t.Fatalf("NAL unit type %d should not be in a frame body", typ)
		case typ == naluIDR:
			idr = true
		}
		vcl = vcl || isVCL(NALUType(n))
		size += len(n)
	}
	if !vcl || idr != f.Keyframe {
		t.Fatalf("frame with VCL %v, IDR %v, keyframe %v", vcl, idr, f.Keyframe)
	}
	if size > MaxH264FrameBytes || len(body) > MaxH264FrameNALUs {
		t.Fatalf("frame of %d bytes in %d NAL units exceeds the bounds", size, len(body))
	}
}

// BenchmarkH264Depacketizer measures a 720p30-like stream at about
// 3 Mbit/s: 12 KB P-frames, a 100 KB IDR every two seconds, cut into
// 1200-byte FU-A packets.
func BenchmarkH264Depacketizer(b *testing.B) {
	pkts := benchStream(60)
	d := NewH264Depacketizer()
	var bytesIn int
	for _, p := range pkts {
		bytesIn += len(p.Payload)
	}
	b.SetBytes(int64(bytesIn / len(pkts)))
	b.ReportAllocs()
	frames := 0
	seq, round := uint16(0), uint32(0)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		j := i % len(pkts)
		if j == 0 && i > 0 {
			round++
		}
		p := pkts[j]
		p.SequenceNumber = seq
		seq++
		p.Timestamp = p.Timestamp%(60*3000) + round*60*3000
		frames += len(d.Push(p).Frames)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "packets/s")
	if b.N > len(pkts) && frames == 0 {
		b.Fatal("no frames came out")
	}
}

// benchStream packetizes n frames with pion, as a browser would.
func benchStream(n int) []*rtp.Packet {
	p := rtp.NewPacketizer(1200, 102, 1, &codecs.H264Payloader{}, rtp.NewFixedSequencer(0), 90000)
	var pkts []*rtp.Packet
	fill := func(hdr byte, size int) []byte {
		nal := make([]byte, size)
		for i := range nal {
			nal[i] = byte(i*7 + 1) // no zero runs, so no start codes
		}
		nal[0], nal[1] = hdr, 0x88 // first_mb_in_slice 0
		return nal
	}
	for i := range n {
		var au [][]byte
		if i%60 == 0 {
			au = [][]byte{tSPS, tPPS, fill(0x65, 100_000)}
		} else {
			au = [][]byte{fill(0x41, 12_000)}
		}
		pkts = append(pkts, p.Packetize(AnnexB(au), 3000)...)
	}
	// Timestamps restart at zero so the benchmark can shift them per round.
	base := pkts[0].Timestamp
	for _, pk := range pkts {
		pk.Timestamp -= base
	}
	return pkts
}
