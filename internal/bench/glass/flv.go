package glass

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/castnet/castnet/internal/media"
)

// The encoder writes FLV rather than Annex B because FLV frames each
// access unit (a tag with its length), so the publisher can send a frame
// the moment ffmpeg writes it. Annex B on a pipe says where an access unit
// ends only when the next one starts, a frame interval later.

// errFLV reports an FLV stream the reader cannot follow.
var errFLV = errors.New("glass: bad FLV from the encoder")

// Tag and codec values of the FLV spec (v10.1, annex E.4.1, E.4.3).
const (
	flvTagVideo    = 9
	flvCodecAVC    = 7
	flvAVCSeqHead  = 0
	flvAVCNALU     = 1
	flvKeyframe    = 1
	flvTagHeader   = 11
	maxFLVTagBytes = media.MaxH264FrameBytes
)

// flvFrame is one H.264 access unit read from FLV.
type flvFrame struct {
	NALUs    [][]byte
	Keyframe bool
}

// flvReader reads the H.264 access units of an FLV stream as ffmpeg's flv
// muxer writes them: the parameter sets once, in the AVC sequence header,
// then length-prefixed NAL units per tag.
type flvReader struct {
	r        *bufio.Reader
	lenSize  int
	sps, pps [][]byte
}

// newFLVReader reads the file header.
func newFLVReader(r io.Reader) (*flvReader, error) {
	f := &flvReader{r: bufio.NewReaderSize(r, 1<<16), lenSize: 4}
	var h [9]byte
	if _, err := io.ReadFull(f.r, h[:]); err != nil {
		return nil, err
	}
	if string(h[:3]) != "FLV" {
		return nil, fmt.Errorf("%w: signature % x", errFLV, h[:3])
	}
	skip := int(binary.BigEndian.Uint32(h[5:9])) - len(h)
	if skip < 0 || skip > 1024 {
		return nil, fmt.Errorf("%w: header size", errFLV)
	}
	_, err := f.r.Discard(skip)
	return f, err
}

// next returns the next access unit. A keyframe gets the parameter sets
// in front of it, as a browser sends them with every IDR, so that any
// viewer can start on it.
func (f *flvReader) next() (flvFrame, error) {
	for {
		typ, data, err := f.tag()
		if err != nil {
			return flvFrame{}, err
		}
		if typ != flvTagVideo || len(data) < 5 || data[0]&0x0f != flvCodecAVC {
			continue
		}
		key := data[0]>>4 == flvKeyframe
		switch data[1] {
		case flvAVCSeqHead:
			if err := f.config(data[5:]); err != nil {
				return flvFrame{}, err
			}
		case flvAVCNALU:
			nalus, err := f.split(data[5:])
			if err != nil || len(nalus) == 0 {
				return flvFrame{}, err
			}
			if key {
				nalus = append(append(append([][]byte{}, f.sps...), f.pps...), nalus...)
			}
			return flvFrame{NALUs: nalus, Keyframe: key}, nil
		}
	}
}

// tag reads one tag (after the previous tag's size) and returns its type
// and data.
func (f *flvReader) tag() (byte, []byte, error) {
	var h [4 + flvTagHeader]byte
	if _, err := io.ReadFull(f.r, h[:]); err != nil {
		return 0, nil, err
	}
	size := int(h[5])<<16 | int(h[6])<<8 | int(h[7])
	if size > maxFLVTagBytes {
		return 0, nil, fmt.Errorf("%w: tag of %d bytes", errFLV, size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(f.r, data); err != nil {
		return 0, nil, err
	}
	return h[4] & 0x1f, data, nil
}

// config reads an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1).
func (f *flvReader) config(b []byte) error {
	if len(b) < 6 {
		return fmt.Errorf("%w: short AVC configuration", errFLV)
	}
	f.lenSize = int(b[4]&3) + 1
	var err error
	if f.sps, b, err = paramSets(b[6:], int(b[5]&0x1f)); err != nil {
		return err
	}
	if len(b) < 1 {
		return fmt.Errorf("%w: AVC configuration without PPS count", errFLV)
	}
	f.pps, _, err = paramSets(b[1:], int(b[0]))
	return err
}

// paramSets reads n 16-bit-length-prefixed parameter sets.
func paramSets(b []byte, n int) ([][]byte, []byte, error) {
	var sets [][]byte
	for range n {
		if len(b) < 2 || int(binary.BigEndian.Uint16(b))+2 > len(b) {
			return nil, nil, fmt.Errorf("%w: parameter set overruns", errFLV)
		}
		l := int(binary.BigEndian.Uint16(b))
		sets = append(sets, b[2:2+l])
		b = b[2+l:]
	}
	return sets, b, nil
}

// split cuts a tag's length-prefixed NAL units.
func (f *flvReader) split(b []byte) ([][]byte, error) {
	var nalus [][]byte
	for len(b) > 0 {
		if len(b) < f.lenSize {
			return nil, fmt.Errorf("%w: NAL length cut short", errFLV)
		}
		n := 0
		for _, c := range b[:f.lenSize] {
			n = n<<8 | int(c)
		}
		b = b[f.lenSize:]
		if n > len(b) {
			return nil, fmt.Errorf("%w: NAL unit of %d bytes in %d", errFLV, n, len(b))
		}
		if n > 0 {
			nalus = append(nalus, b[:n])
		}
		b = b[n:]
	}
	return nalus, nil
}
