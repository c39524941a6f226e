package broadcaster

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
)

// served is the most a rendition has carried so far, for the attributes
// the multivariant playlist declares (RFC 8216 §4.3.4.2): the largest
// picture for RESOLUTION, the codec a decoder needs for every segment for
// CODECS, and the highest frame rate for FRAME-RATE. Only the rendition's
// own segments count: one that falls back to the source's is fenced by a
// discontinuity and described by the source's variant.
type served struct {
	width, height int
	sps           media.SPSInfo // merged: see mergeSPS
	hasSPS        bool
	fps           float64
}

// segmentVideo is what one MPEG-TS segment's video holds.
type segmentVideo struct {
	sps    []media.SPSInfo
	frames int
}

// add folds one segment of duration d into s.
func (s *served) add(v segmentVideo, d time.Duration) {
	timed := 0.0
	for _, info := range v.sps {
		if info.Width*info.Height > s.width*s.height {
			s.width, s.height = info.Width, info.Height
		}
		s.sps, s.hasSPS = mergeSPS(s.sps, info, s.hasSPS), true
		timed = max(timed, info.FrameRate())
	}
	switch {
	case timed > 0: // the encoder says (x264 writes VUI timing)
		s.fps = max(s.fps, timed)
	case v.frames > 1 && d > 0: // browsers do not: count frames
		s.fps = max(s.fps, float64(v.frames)/d.Seconds())
	}
}

// codec is the RFC 6381 string, or "" before any SPS.
func (s *served) codec() string {
	if !s.hasSPS {
		return ""
	}
	return s.sps.CodecString()
}

// mergeSPS describes a stream holding both a and b: the more capable
// profile (Baseline 66 < Main 77 < High 100, by profile_idc), the higher
// level, and only the constraint flags both honour.
func mergeSPS(a, b media.SPSInfo, haveA bool) media.SPSInfo {
	if !haveA {
		return b
	}
	out := a
	out.ProfileIDC = max(a.ProfileIDC, b.ProfileIDC)
	out.LevelIDC = max(a.LevelIDC, b.LevelIDC)
	out.ConstraintFlags = a.ConstraintFlags & b.ConstraintFlags
	return out
}

// maxScanPES bounds the packets scanVideo reads: a segment of 10 s at
// 60 fps with audio is under 2,000.
const maxScanPES = 20_000

// scanVideo reads the SPSs and counts the H.264 frames (PES packets) of an
// MPEG-TS segment.
func scanVideo(ts []byte) segmentVideo {
	var v segmentVideo
	d := mpegts.NewDemuxer(bytes.NewReader(ts))
	for range maxScanPES {
		pes, err := d.Next()
		if errors.Is(err, io.EOF) || err != nil {
			return v
		}
		if pes.StreamType != mpegts.StreamTypeH264 {
			continue
		}
		v.frames++
		for _, n := range media.SplitAnnexB(pes.Data) {
			if media.NALUType(n) != 7 {
				continue
			}
			if info, err := media.ParseSPS(n); err == nil {
				v.sps = append(v.sps, info)
			}
		}
	}
	return v
}
