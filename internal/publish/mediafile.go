package publish

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// opusRate is Opus's RTP clock rate and the unit of its packet durations
// (RFC 7587 section 4.1).
const opusRate = 48000

var annexBStartCode = []byte{0, 0, 0, 1}

// readVideo loads an Annex B H.264 stream as access units of one 1/fps
// tick each, starting at the first IDR.
func readVideo(r io.Reader, fps int) (*trackData, error) {
	units, err := splitAccessUnits(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("publish: video: %w", err)
	}
	t := &trackData{rate: int64(fps)}
	for _, au := range units {
		if len(t.frames) == 0 && !au.key {
			continue // nothing decodes before the first IDR
		}
		t.frames = append(t.frames, frame{data: au.data, ticks: 1, key: au.key})
		t.total++
	}
	if len(t.frames) == 0 {
		return nil, fmt.Errorf("%w: no IDR in the encoded video", ErrNoMedia)
	}
	return t, nil
}

// splitAccessUnits reads NAL units with pion's h264reader (one per call)
// and groups them into access units.
func splitAccessUnits(r io.Reader) ([]accessUnit, error) {
	hr, err := h264reader.NewReader(r)
	if err != nil {
		return nil, err
	}
	var b auBuilder
	var units []accessUnit
	for {
		nal, err := hr.NextNAL()
		if errors.Is(err, io.EOF) || (err == nil && nal == nil) {
			break
		}
		if err != nil {
			return nil, err
		}
		if au, ok := b.push(nal.Data); ok {
			units = append(units, au)
		}
	}
	if au, ok := b.flush(); ok {
		units = append(units, au)
	}
	return units, nil
}

// accessUnit is one coded picture with the parameter sets and SEI that
// precede it, in Annex B framing.
type accessUnit struct {
	data []byte
	key  bool // holds an IDR slice
}

// auBuilder groups NAL units into access units by the rules of H.264
// section 7.4.1.2.3: an AUD, SPS, PPS or SEI (types 6-9, 14-18) after a
// picture's slices starts the next unit, and so does a slice with
// first_mb_in_slice = 0, which begins a new picture. x264 with zerolatency
// cuts each picture into several slices, so slice count alone is no guide.
type auBuilder struct {
	cur    []byte
	hasVCL bool
	key    bool
}

// push adds one NAL unit (header byte first, no start code) and returns the
// access unit it completed, if any.
func (b *auBuilder) push(nal []byte) (accessUnit, bool) {
	if len(nal) == 0 {
		return accessUnit{}, false
	}
	var done accessUnit
	var ok bool
	if b.hasVCL && startsAccessUnit(nal) {
		done, ok = b.flush()
	}
	typ := nal[0] & 0x1f
	if typ == 1 || typ == 5 {
		b.hasVCL = true
		b.key = b.key || typ == 5
	}
	b.cur = append(append(b.cur, annexBStartCode...), nal...)
	return done, ok
}

// flush returns the unit being built, if it holds a picture.
func (b *auBuilder) flush() (accessUnit, bool) {
	au, ok := accessUnit{data: b.cur, key: b.key}, b.hasVCL
	*b = auBuilder{}
	return au, ok
}

// startsAccessUnit reports whether nal cannot belong to the access unit of
// a picture already seen.
func startsAccessUnit(nal []byte) bool {
	switch typ := nal[0] & 0x1f; {
	case typ == 1 || typ == 5:
		// first_mb_in_slice is the slice header's first ue(v); it is 0
		// exactly when its first bit is 1.
		return len(nal) > 1 && nal[1]&0x80 != 0
	case typ >= 6 && typ <= 9, typ >= 14 && typ <= 18:
		return true
	}
	return false
}

// readAudio loads an Ogg Opus stream written one packet per page.
func readAudio(r io.Reader) (*trackData, error) {
	t, err := readOpusPackets(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("publish: audio: %w", err)
	}
	return t, nil
}

// readOpusPackets skips the OpusHead and OpusTags headers (RFC 7845
// section 5) and takes every further page payload as one Opus packet.
func readOpusPackets(r io.Reader) (*trackData, error) {
	ogg, _, err := oggreader.NewWith(r)
	if err != nil {
		return nil, err
	}
	t := &trackData{rate: opusRate}
	for {
		payload, _, err := ogg.ParseNextPage()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(payload) == 0 || bytes.HasPrefix(payload, []byte("OpusTags")) {
			continue
		}
		samples, err := opusSamples(payload)
		if err != nil {
			return nil, err
		}
		t.frames = append(t.frames, frame{data: payload, ticks: int64(samples)})
		t.total += int64(samples)
	}
	if len(t.frames) == 0 {
		return nil, fmt.Errorf("%w: no Opus packets", ErrNoMedia)
	}
	return t, nil
}

// errBadOpus reports an Opus packet whose TOC does not describe a valid
// packet.
var errBadOpus = errors.New("malformed Opus packet")

// opusSamples returns the duration of an Opus packet in 48 kHz samples,
// read from its TOC byte (RFC 6716 section 3.1).
func opusSamples(pkt []byte) (int, error) {
	if len(pkt) == 0 {
		return 0, errBadOpus
	}
	frames := 1
	switch pkt[0] & 0x3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(pkt) < 2 {
			return 0, errBadOpus
		}
		frames = int(pkt[1] & 0x3f)
	}
	total := frames * opusFrameSamples(pkt[0]>>3)
	// RFC 6716 section 3.2.5: a packet carries at least one frame and at
	// most 120 ms of audio.
	if frames == 0 || total > 120*opusRate/1000 {
		return 0, errBadOpus
	}
	return total, nil
}

// opusFrameSamples maps a TOC configuration number to its frame size in
// 48 kHz samples (RFC 6716 section 3.1, table 2).
func opusFrameSamples(config byte) int {
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		return []int{480, 960, 1920, 2880}[config%4]
	case config < 16: // Hybrid: 10, 20 ms
		return []int{480, 960}[config%2]
	default: // CELT-only: 2.5, 5, 10, 20 ms
		return []int{120, 240, 480, 960}[config%4]
	}
}
