package media

import (
	"errors"
	"testing"
	"time"
)

func TestOpusPacketDuration(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		pkt  []byte
		want time.Duration
	}{
		{"SILK NB 10 ms, one frame", []byte{0 << 3}, 10 * ms},
		{"SILK NB 60 ms, one frame", []byte{3 << 3}, 60 * ms},
		{"SILK WB 40 ms, one frame", []byte{10 << 3}, 40 * ms},
		{"Hybrid SWB 10 ms", []byte{12 << 3}, 10 * ms},
		{"Hybrid FB 20 ms (what browsers send)", []byte{15 << 3, 0xff}, 20 * ms},
		{"CELT NB 2.5 ms", []byte{16 << 3}, 2500 * time.Microsecond},
		{"CELT FB 20 ms, stereo flag ignored", []byte{31<<3 | 0x4}, 20 * ms},
		{"code 1: two equal frames", []byte{15<<3 | 1, 0, 0}, 40 * ms},
		{"code 2: two frames of different size", []byte{18<<3 | 2, 1, 0}, 20 * ms},
		{"code 3: frame count from the second byte", []byte{31<<3 | 3, 3}, 60 * ms},
		{"code 3: VBR and padding bits do not count", []byte{31<<3 | 3, 0xc0 | 2}, 40 * ms},
		{"code 3: exactly 120 ms", []byte{3<<3 | 3, 2}, 120 * ms},
		{"code 3: 48 frames of 2.5 ms", []byte{16<<3 | 3, 48}, 120 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpusPacketDuration(tt.pkt)
			if err != nil || got != tt.want {
				t.Fatalf("OpusPacketDuration(%x) = %v, %v; want %v", tt.pkt, got, err, tt.want)
			}
		})
	}
}

func TestOpusPacketDurationRejects(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte
	}{
		{"empty packet", nil},
		{"code 3 without frame count byte", []byte{31<<3 | 3}},
		{"code 3 with zero frames", []byte{31<<3 | 3, 0}},
		{"more than 120 ms", []byte{3<<3 | 3, 3}},
		{"49 frames of 2.5 ms", []byte{16<<3 | 3, 49}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, err := OpusPacketDuration(tt.pkt); !errors.Is(err, ErrInvalidOpus) {
				t.Fatalf("OpusPacketDuration(%x) = %v, %v; want ErrInvalidOpus", tt.pkt, d, err)
			}
		})
	}
}

func opusFuzzSeeds() [][]byte {
	return [][]byte{{0xfc, 0xff, 0xfe}, {0x78}, {0x03, 0x03}, {0xe3, 0x30}, {0x4b, 0x81, 0x02}, {}}
}

func FuzzOpusPacketDuration(f *testing.F) {
	for _, s := range opusFuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		d, err := OpusPacketDuration(pkt)
		if err != nil {
			if !errors.Is(err, ErrInvalidOpus) {
				t.Fatalf("error %v does not wrap ErrInvalidOpus", err)
			}
			return
		}
		if d <= 0 || d > 120*time.Millisecond || d%(2500*time.Microsecond) != 0 {
			t.Fatalf("duration %v outside (0, 120 ms] or not a multiple of 2.5 ms", d)
		}
		// The duration depends on the TOC byte (and the frame count byte
		// of code 3) only, never on the frame data.
		head := pkt[:1]
		if pkt[0]&3 == 3 {
			head = pkt[:2]
		}
		if again, err := OpusPacketDuration(head); err != nil || again != d {
			t.Fatalf("header alone gives %v, %v; whole packet %v", again, err, d)
		}
	})
}
