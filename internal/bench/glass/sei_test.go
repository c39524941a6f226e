package glass

import (
	"bytes"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media/bitwrite"
)

func TestStampRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name string
		ns   int64
	}{
		{"now", time.Now().UnixNano()},
		{"nanoseconds with two zero bytes then 01 (a start code without prevention)", 0x1122_0000_0133_4455},
		{"a run of zero bytes", 0x0100_0000_0000_0002},
		{"zero bytes before 03 (an existing emulation byte value)", 0x0a00_0003_0000_0300},
		{"the last bytes zero, before the trailing bits", 0x7fff_ffff_ff00_0000},
		{"one nanosecond", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := time.Unix(0, tc.ns)
			nal := stampSEI(want)
			if hasStartCodeEmulation(nal) {
				t.Fatalf("SEI % x holds 00 00 0x without prevention", nal)
			}
			got, ok := readStamp(nal)
			if !ok || !got.Equal(want) {
				t.Fatalf("read %v %v, want %v (nal % x)", got, ok, want, nal)
			}
		})
	}
}

// hasStartCodeEmulation reports 00 00 00, 00 00 01 or 00 00 02 in a NAL
// unit, which H.264 §7.4.1 forbids.
func hasStartCodeEmulation(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] <= 2 {
			return true
		}
	}
	return false
}

func TestUnescapeUndoesEscape(t *testing.T) {
	for _, tc := range []struct{ rbsp, ebsp []byte }{
		{[]byte{0, 0, 0}, []byte{0, 0, 3, 0}},
		{[]byte{0, 0, 1}, []byte{0, 0, 3, 1}},
		{[]byte{0, 0, 3}, []byte{0, 0, 3, 3}},
		{[]byte{0, 0, 4}, []byte{0, 0, 4}},
		{[]byte{0, 0, 0, 0, 0}, []byte{0, 0, 3, 0, 0, 3, 0}},
		{[]byte{1, 0, 2}, []byte{1, 0, 2}},
	} {
		if got := bitwrite.Escape(tc.rbsp); !bytes.Equal(got, tc.ebsp) {
			t.Errorf("bitwrite.Escape(% x) = % x, want % x", tc.rbsp, got, tc.ebsp)
		}
		if got := unescape(tc.ebsp); !bytes.Equal(got, tc.rbsp) {
			t.Errorf("unescape(% x) = % x, want % x", tc.ebsp, got, tc.rbsp)
		}
	}
}

func TestReadStampRejects(t *testing.T) {
	good := stampSEI(time.Unix(1_700_000_000, 5))
	foreign := append([]byte(nil), good...)
	foreign[3] ^= 0xff // the UUID's first byte
	for _, tc := range []struct {
		name string
		nal  []byte
	}{
		{"empty", nil},
		{"a slice, not SEI", []byte{0x65, 0x88, 0x84}},
		{"another UUID (x264's version string is one)", foreign},
		{"cut inside the payload", good[:len(good)-6]},
		{"a size beyond the NAL", []byte{nalSEI, 5, 200, 1, 2, 3}},
		{"recovery point only", []byte{nalSEI, 6, 1, 0x84, 0x80}},
		{"an endless payload type", append([]byte{nalSEI}, bytes.Repeat([]byte{0xff}, 64)...)},
		{"zero time", stampSEI(time.Unix(0, 0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := readStamp(tc.nal); ok {
				t.Fatalf("read %v from % x", got, tc.nal)
			}
		})
	}
}

func TestReadStampAfterOtherMessages(t *testing.T) {
	want := time.Unix(1_700_000_000, 123)
	stamp := stampSEI(want)
	// A recovery point message (type 6, one byte), then a 300-byte type-5
	// message of someone else's (payloadSize coded as ff 2d), then ours.
	other := append([]byte{seiUserDataUnrg, 0xff, 45}, bytes.Repeat([]byte{0x11}, 300)...)
	rbsp := append([]byte{6, 1, 0x84}, other...)
	nal := append([]byte{nalSEI}, rbsp...)
	nal = append(nal, unescape(stamp[1:])...) // ours, with its trailing bits
	nal = append(nal[:1], bitwrite.Escape(nal[1:])...)
	got, ok := readStamp(nal)
	if !ok || !got.Equal(want) {
		t.Fatalf("read %v %v, want %v", got, ok, want)
	}
}

func TestInsertStampGoesBeforeTheFirstSlice(t *testing.T) {
	aud, sps, pps := []byte{0x09, 0xf0}, []byte{0x67, 1}, []byte{0x68, 2}
	idr, slice := []byte{0x65, 3}, []byte{0x65, 4}
	sei := stampSEI(time.Now())
	got := insertStamp([][]byte{aud, sps, pps, idr, slice}, sei)
	want := [][]byte{aud, sps, pps, sei, idr, slice}
	if len(got) != len(want) {
		t.Fatalf("got %d NAL units, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("NAL %d is % x, want % x", i, got[i], want[i])
		}
	}
	if _, ok := findStamp(got); !ok {
		t.Fatal("findStamp missed the inserted stamp")
	}
	if got := insertStamp([][]byte{sps, pps}, sei); len(got) != 2 {
		t.Fatalf("an access unit without a slice got a stamp: %d NAL units", len(got))
	}
}
