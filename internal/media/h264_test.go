package media

import (
	"bytes"
	"slices"
	"testing"
)

func TestAnnexB(t *testing.T) {
	got := AnnexB([][]byte{tSPS[:3], tPPS})
	want := []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80}
	if !bytes.Equal(got, want) {
		t.Fatalf("AnnexB = %x, want %x", got, want)
	}
}

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name   string
		stream []byte
		want   [][]byte
	}{
		{"four-byte start codes", []byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce}, [][]byte{{0x67, 0x42}, {0x68, 0xce}}},
		{"three-byte start codes", []byte{0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0x88}, [][]byte{{0x09, 0xf0}, {0x65, 0x88}}},
		{"leading garbage and trailing zeros dropped", []byte{0xff, 0, 0, 1, 0x41, 0x9a, 0, 0, 0, 0, 0, 1, 0x41}, [][]byte{{0x41, 0x9a}, {0x41}}},
		{"empty NAL units skipped", []byte{0, 0, 1, 0, 0, 1, 0x06, 0x05}, [][]byte{{0x06, 0x05}}},
		{"escaped payload is not split", []byte{0, 0, 1, 0x65, 0, 0, 3, 1}, [][]byte{{0x65, 0, 0, 3, 1}}},
		{"no start code, no NAL units", []byte{0x65, 0x88}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitAnnexB(tt.stream); !slices.EqualFunc(got, tt.want, bytes.Equal) {
				t.Fatalf("SplitAnnexB(%x) = %x, want %x", tt.stream, got, tt.want)
			}
		})
	}
}

func TestNALUType(t *testing.T) {
	if NALUType(nil) != 0 || NALUType(tIDR) != 5 || NALUType([]byte{0x7c}) != naluFUA {
		t.Fatal("NALUType reads the wrong bits")
	}
}

func annexBFuzzSeeds() [][]byte {
	return [][]byte{
		AnnexB([][]byte{tSPS, tPPS, tSEI, tIDR}),
		{0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x41, 0, 0, 3, 1, 0, 0},
		{0, 0, 0, 0, 1, 0, 0, 1},
	}
}

func FuzzSplitAnnexB(f *testing.F) {
	for _, s := range annexBFuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		nalus := SplitAnnexB(stream)
		for _, n := range nalus {
			if len(n) == 0 || n[len(n)-1] == 0 || bytes.Contains(n, []byte{0, 0, 1}) {
				t.Fatalf("bad NAL unit %x", n)
			}
		}
		// Joining and splitting again is the identity.
		if again := SplitAnnexB(AnnexB(nalus)); !slices.EqualFunc(again, nalus, bytes.Equal) {
			t.Fatalf("round trip %x became %x", nalus, again)
		}
	})
}
