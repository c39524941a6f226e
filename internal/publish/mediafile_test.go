package publish

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// Handy NAL units: header byte, then for slices the first slice-header
// byte whose top bit says first_mb_in_slice == 0.
var (
	nalSPS      = []byte{0x67, 0x42, 0xc0, 0x1f}
	nalPPS      = []byte{0x68, 0xce, 0x3c, 0x80}
	nalSEI      = []byte{0x06, 0x05, 0x01, 0x00}
	nalAUD      = []byte{0x09, 0xf0}
	nalIDRFirst = []byte{0x65, 0x88, 0x84} // IDR slice, first_mb_in_slice 0
	nalIDRNext  = []byte{0x65, 0x41, 0x9a} // IDR slice further into the picture
	nalPFirst   = []byte{0x41, 0x9a, 0x02}
	nalPNext    = []byte{0x41, 0x22, 0x10}
	nalEOS      = []byte{0x0a}
)

func annexB(nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

func TestSplitAccessUnits(t *testing.T) {
	type au struct {
		nals [][]byte
		key  bool
	}
	for _, tc := range []struct {
		name string
		in   [][]byte
		want []au
	}{
		{
			name: "parameter sets join the IDR that follows",
			in:   [][]byte{nalSPS, nalPPS, nalIDRFirst, nalPFirst},
			want: []au{{[][]byte{nalSPS, nalPPS, nalIDRFirst}, true}, {[][]byte{nalPFirst}, false}},
		},
		{
			name: "slices of one picture stay together",
			in:   [][]byte{nalSPS, nalPPS, nalIDRFirst, nalIDRNext, nalIDRNext, nalPFirst, nalPNext},
			want: []au{{[][]byte{nalSPS, nalPPS, nalIDRFirst, nalIDRNext, nalIDRNext}, true}, {[][]byte{nalPFirst, nalPNext}, false}},
		},
		{
			name: "an access unit delimiter starts the next picture",
			in:   [][]byte{nalAUD, nalPFirst, nalAUD, nalPFirst},
			want: []au{{[][]byte{nalAUD, nalPFirst}, false}, {[][]byte{nalAUD, nalPFirst}, false}},
		},
		{
			name: "SEI is left out by pion's reader",
			in:   [][]byte{nalPFirst, nalSEI, nalPFirst},
			want: []au{{[][]byte{nalPFirst}, false}, {[][]byte{nalPFirst}, false}},
		},
		{
			name: "end of sequence stays with the last picture",
			in:   [][]byte{nalPFirst, nalEOS},
			want: []au{{[][]byte{nalPFirst, nalEOS}, false}},
		},
		{
			name: "trailing parameter sets without a picture are dropped",
			in:   [][]byte{nalPFirst, nalSPS, nalPPS},
			want: []au{{[][]byte{nalPFirst}, false}},
		},
		{name: "no slices, no access units", in: [][]byte{nalSPS, nalPPS}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitAccessUnits(bytes.NewReader(annexB(tc.in...)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d access units, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if !bytes.Equal(got[i].data, annexB(w.nals...)) || got[i].key != w.key {
					t.Errorf("unit %d = % x (key %v), want % x (key %v)", i, got[i].data, got[i].key, annexB(w.nals...), w.key)
				}
			}
		})
	}
}

func FuzzSplitAccessUnits(f *testing.F) {
	f.Add(annexB(nalSPS, nalPPS, nalIDRFirst, nalIDRNext, nalPFirst, nalPNext))
	f.Add(annexB(nalAUD, nalPFirst, nalSEI, nalEOS))
	f.Add([]byte{0, 0, 1, 0x65, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		units, err := splitAccessUnits(bytes.NewReader(in))
		if err != nil {
			return
		}
		var joined []byte
		for _, u := range units {
			if !bytes.HasPrefix(u.data, annexBStartCode) {
				t.Fatalf("unit % x lacks a start code", u.data)
			}
			joined = append(joined, u.data...)
		}
		// Units written out and split again come back the same.
		again, err := splitAccessUnits(bytes.NewReader(joined))
		if len(units) > 0 && err != nil {
			t.Fatalf("re-splitting: %v", err)
		}
		if !slices.EqualFunc(units, again, func(a, b accessUnit) bool { return bytes.Equal(a.data, b.data) && a.key == b.key }) {
			t.Fatalf("split(% x) = %d units, re-split %d", in, len(units), len(again))
		}
	})
}

func TestOpusSamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkt  []byte
		want int
		err  bool
	}{
		{name: "CELT 20 ms, one frame", pkt: []byte{31<<3 | 0}, want: 960},
		{name: "CELT 2.5 ms, one frame", pkt: []byte{16<<3 | 0}, want: 120},
		{name: "SILK 60 ms, one frame", pkt: []byte{3<<3 | 0}, want: 2880},
		{name: "SILK 10 ms, two equal frames", pkt: []byte{0<<3 | 1}, want: 960},
		{name: "hybrid 20 ms, two frames of different size", pkt: []byte{13<<3 | 2}, want: 1920},
		{name: "CELT 20 ms, code 3 with six frames", pkt: []byte{31<<3 | 3, 6}, want: 5760},
		{name: "more than 120 ms", pkt: []byte{31<<3 | 3, 7}, err: true},
		{name: "code 3 without frame count", pkt: []byte{31<<3 | 3}, err: true},
		{name: "code 3 with zero frames", pkt: []byte{31<<3 | 3, 0}, err: true},
		{name: "empty", pkt: nil, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := opusSamples(tc.pkt)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("opusSamples(% x) = %d, %v; want %d (error %v)", tc.pkt, got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzOpusSamples(f *testing.F) {
	f.Add([]byte{0xfc, 0xff, 0xfe})
	f.Add([]byte{0x0b})
	f.Add([]byte{0x03, 0x83})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		n, err := opusSamples(pkt)
		if err != nil {
			if !errors.Is(err, errBadOpus) || n != 0 {
				t.Fatalf("opusSamples error %v with %d samples", err, n)
			}
			return
		}
		// RFC 6716: 2.5 ms granularity, at most 120 ms.
		if n < 120 || n > 5760 || n%120 != 0 {
			t.Fatalf("opusSamples(% x) = %d", pkt, n)
		}
	})
}

func FuzzReadOpusPackets(f *testing.F) {
	f.Add([]byte("OggS"))
	f.Add(oggPage(0x02, 0, []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")))
	f.Add(append(oggPage(0x02, 0, []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")),
		oggPage(0, 960, []byte{0xfc, 0xff, 0xfe})...))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, err := readOpusPackets(bytes.NewReader(in))
		if err != nil {
			return
		}
		var total int64
		for _, fr := range tr.frames {
			if len(fr.data) == 0 || fr.ticks <= 0 {
				t.Fatalf("empty or timeless packet %+v", fr)
			}
			total += fr.ticks
		}
		if total != tr.total || tr.rate != opusRate {
			t.Fatalf("total %d ticks at %d Hz, frames sum to %d", tr.total, tr.rate, total)
		}
	})
}

// oggPage builds one Ogg page (RFC 3533 section 6) holding payload, with
// a valid CRC so that pion's reader accepts it.
func oggPage(headerType byte, granule uint64, payload []byte) []byte {
	p := []byte("OggS")
	p = append(p, 0, headerType)
	for i := range 8 {
		p = append(p, byte(granule>>(8*i)))
	}
	p = append(p, 1, 0, 0, 0) // serial
	p = append(p, 0, 0, 0, 0) // sequence
	p = append(p, 0, 0, 0, 0) // CRC, filled in below
	var lacing []byte
	n := len(payload)
	for ; n >= 255; n -= 255 {
		lacing = append(lacing, 255)
	}
	lacing = append(lacing, byte(n))
	p = append(p, byte(len(lacing)))
	p = append(append(p, lacing...), payload...)
	crc := oggCRC(p)
	p[22], p[23], p[24], p[25] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
	return p
}

// oggCRC is the Ogg CRC-32: polynomial 0x04c11db7, no reflection, zero
// initial value.
func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func TestReadOpusPacketsSkipsHeadersAndTimesPackets(t *testing.T) {
	var in []byte
	in = append(in, oggPage(0x02, 0, []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"))...)
	in = append(in, oggPage(0, 0, []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"))...)
	in = append(in, oggPage(0, 960, []byte{31 << 3, 0xaa})...)
	in = append(in, oggPage(0, 1920, []byte{31<<3 | 3, 2, 0xbb})...)
	tr, err := readOpusPackets(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.frames) != 2 || tr.frames[0].ticks != 960 || tr.frames[1].ticks != 1920 || tr.total != 2880 {
		t.Errorf("frames %+v total %d, want 960 and 1920 samples", tr.frames, tr.total)
	}
}
