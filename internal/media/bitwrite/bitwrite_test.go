package bitwrite

import (
	"bytes"
	"testing"
)

func TestWriterEncodesExpGolomb(t *testing.T) {
	// ue(0)=1, ue(3)=00100, se(-1)=ue(2)=011, se(2)=ue(3)=00100, flag 1,
	// u(3,5)=101, then the stop bit and zero padding.
	var w Writer
	got := w.UE(0).UE(3).SE(-1).SE(2).Flag(true).U(3, 5).RBSP()
	// 1 00100 011 00100 1 101 1 + pad: 10010001 10010011 01100000
	want := []byte{0x91, 0x93, 0x60}
	if !bytes.Equal(got, want) {
		t.Errorf("bits %08b, want %08b", got, want)
	}
}

func TestEscapeBreaksStartCodes(t *testing.T) {
	got := Escape([]byte{0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0})
	want := []byte{0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 0, 4, 0, 0}
	if !bytes.Equal(got, want) {
		t.Errorf("Escape = %v, want %v", got, want)
	}
}
