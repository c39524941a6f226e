package glass

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// flvTag builds one tag and the previous-tag-size field before it.
func flvTag(typ byte, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0) // previous tag size; unread
	b = append(b, typ, byte(len(data)>>16), byte(len(data)>>8), byte(len(data)), 0, 0, 0, 0, 0, 0, 0)
	return append(b, data...)
}

func avcTag(frameType, packetType byte, body []byte) []byte {
	return flvTag(flvTagVideo, append([]byte{frameType<<4 | flvCodecAVC, packetType, 0, 0, 0}, body...))
}

func TestFLVReaderFramesAccessUnits(t *testing.T) {
	sps, pps := []byte{0x67, 0x42, 0xc0, 0x1f}, []byte{0x68, 0xce}
	idr, p := []byte{0x65, 0x88, 0x80}, []byte{0x41, 0x9a}
	config := []byte{1, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0, byte(len(sps))}
	config = append(append(config, sps...), 1, 0, byte(len(pps)))
	config = append(config, pps...)
	stream := []byte("FLV\x01\x01\x00\x00\x00\x09")
	stream = append(stream, flvTag(8, []byte{0xaf, 1, 2})...) // an audio tag, skipped
	stream = append(stream, avcTag(1, flvAVCSeqHead, config)...)
	stream = append(stream, avcTag(1, flvAVCNALU, append([]byte{0, 0, 0, 3}, idr...))...)
	stream = append(stream, avcTag(2, flvAVCNALU, append([]byte{0, 0, 0, 2}, p...))...)
	f, err := newFLVReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.next()
	if err != nil || !key.Keyframe || len(key.NALUs) != 3 || !bytes.Equal(key.NALUs[0], sps) ||
		!bytes.Equal(key.NALUs[1], pps) || !bytes.Equal(key.NALUs[2], idr) {
		t.Fatalf("keyframe %+v %v: want SPS, PPS, IDR", key, err)
	}
	inter, err := f.next()
	if err != nil || inter.Keyframe || len(inter.NALUs) != 1 || !bytes.Equal(inter.NALUs[0], p) {
		t.Fatalf("inter frame %+v %v", inter, err)
	}
	if _, err := f.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v", err)
	}
}

func TestFLVReaderRejects(t *testing.T) {
	head := []byte("FLV\x01\x01\x00\x00\x00\x09")
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"not FLV", []byte("RIFF\x01\x01\x00\x00\x00\x09")},
		{"a NAL length past the tag", append(head, avcTag(2, flvAVCNALU, []byte{0, 0, 0, 9, 0x41})...)},
		{"a parameter set past the record", append(head, avcTag(1, flvAVCSeqHead, []byte{1, 0x42, 0, 0x1f, 0xff, 0xe1, 0, 40})...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := newFLVReader(bytes.NewReader(tc.b))
			if err == nil {
				_, err = f.next()
			}
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("got %v, want an FLV error", err)
			}
		})
	}
}
