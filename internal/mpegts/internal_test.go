package mpegts

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestCRC32MPEGMatchesTheStandardCheckValue(t *testing.T) {
	// The CRC catalogue's check value for CRC-32/MPEG-2 over "123456789".
	if got := crc32MPEG([]byte("123456789")); got != 0x0376E6E7 {
		t.Fatalf("crc = %08x, want 0376e6e7", got)
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want uint64
	}{
		{"zero", 0, 0},
		{"one second is 90000 ticks", time.Second, 90000},
		{"rounds down below half a tick", 5000 * time.Nanosecond, 0},
		{"rounds up from half a tick", 6000 * time.Nanosecond, 1},
		{"negative durations wrap below 2^33", -time.Second, 1<<33 - 90000},
		{"a tick before zero is the last tick", -11 * time.Microsecond, 1<<33 - 1},
		{"wraps after 2^33 ticks", TicksToDuration(1<<33) + time.Second, 90000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ticks(tt.d); got != tt.want {
				t.Errorf("Ticks(%v) = %d, want %d", tt.d, got, tt.want)
			}
		})
	}
}

func TestPESHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		pts, dts time.Duration
		wantDTS  bool
	}{
		{"pts only when dts equals pts", time.Second, time.Second, false},
		{"dts when it differs", 2 * time.Second, time.Second, true},
		{"all 33 bits survive", TicksToDuration(1<<33 - 1), TicksToDuration(1<<32 + 12345), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte{1, 2, 3}
			b := appendPESHeader(nil, streamIDVideo, len(payload), tt.pts, tt.dts)
			h, err := parsePES(append(b, payload...))
			if err != nil {
				t.Fatal(err)
			}
			if !h.hasPTS || h.pts != Ticks(tt.pts) {
				t.Errorf("pts = %d (%v), want %d", h.pts, h.hasPTS, Ticks(tt.pts))
			}
			if h.hasDTS != tt.wantDTS || (tt.wantDTS && h.dts != Ticks(tt.dts)) {
				t.Errorf("dts = %d (%v), want %d (%v)", h.dts, h.hasDTS, Ticks(tt.dts), tt.wantDTS)
			}
			if !bytes.Equal(h.payload, payload) {
				t.Errorf("payload = %x", h.payload)
			}
		})
	}
}

func TestOpusControlHeaderRoundTrip(t *testing.T) {
	for _, size := range []int{1, 254, 255, 256, 509, 510, 1275} {
		pkt := bytes.Repeat([]byte{0xAB}, size)
		b := append(appendOpusControl(nil, size), pkt...)
		if want := 2 + size/255 + 1; len(b)-size != want {
			t.Errorf("size %d: header of %d bytes, want %d", size, len(b)-size, want)
		}
		got, err := SplitOpus(append(b, b...))
		if err != nil || len(got) != 2 || !bytes.Equal(got[0], pkt) || !bytes.Equal(got[1], pkt) {
			t.Errorf("size %d: SplitOpus = %d packets, %v", size, len(got), err)
		}
	}
}

func TestSplitOpusRejectsDamage(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"no prefix", []byte{0x12, 0x34, 0x01, 0x00}},
		{"size overruns", []byte{0x7F, 0xE0, 0x05, 0x00}},
		{"size bytes run off the end", []byte{0x7F, 0xE0, 0xFF, 0xFF}},
		{"trim runs off the end", []byte{0x7F, 0xF0, 0x00, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SplitOpus(tt.in); !errors.Is(err, ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestTablesRoundTrip(t *testing.T) {
	_, _, body, err := parseSection(buildPAT())
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := parsePAT(body); !ok || pid != PIDPMT {
		t.Errorf("PAT names PMT %#x, want %#x", pid, PIDPMT)
	}
	pmt := buildPMT(PIDVideo, []esInfo{{StreamTypeH264, PIDVideo, nil}, {StreamTypePrivate, PIDAudio, opusDescriptors(2)}})
	_, _, body, err = parseSection(pmt)
	if err != nil {
		t.Fatal(err)
	}
	es, err := parsePMT(body)
	if err != nil || len(es) != 2 {
		t.Fatalf("PMT streams = %v, %v", es, err)
	}
	if codecOf(es[0]) != "h264" || codecOf(es[1]) != "opus" {
		t.Errorf("codecs = %q, %q", codecOf(es[0]), codecOf(es[1]))
	}
	pmt[len(pmt)-1] ^= 1
	if _, _, _, err := parseSection(pmt); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad CRC: err = %v, want ErrCorrupt", err)
	}
}
