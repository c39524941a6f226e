package broadcaster

import (
	"bytes"
	"errors"
	"io"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/transcode"
)

// audioBitrate is what the ladder spends on AAC (see transcode's args).
const audioBitrate = 128_000

// aacLC is the RFC 6381 codec string of AAC-LC, the audio of every rendition.
const aacLC = "mp4a.40.2"

// opusCodec is the RFC 6381 codec string of Opus (its ISO BMFF sample entry),
// the audio of segments published as cut.
const opusCodec = "opus"

// buildVariants describes the renditions for the multivariant playlist from
// the first segment: the source's real format, and for each rung the codec
// its first output actually carries.
func (st *Stream) buildVariants(p *pending) []hls.Variant {
	st.mu.Lock()
	rate := st.stats.bitrate
	st.mu.Unlock()
	if d := p.seg.Duration().Seconds(); d > 0 {
		rate = max(rate, float64(len(p.seg.Bytes())*8)/d)
	}
	fps := p.src.fps
	if fps <= 0 {
		fps = 30
	}
	var out []hls.Variant
	for _, r := range st.rungs {
		v := hls.Variant{Name: r.Name, FrameRate: float64(r.FPS)}
		if r.IsSource() {
			v.Width, v.Height, v.FrameRate = p.src.width, p.src.height, fps
			v.Bandwidth = int(rate * 1.2) // peak allowance over the measured mean
			v.Codecs = st.codecs(p.src.codec)
		} else {
			v.Width, v.Height = transcode.FitSize(r, p.src.width, p.src.height)
			v.Bandwidth = r.Bitrate + audioBitrate
			v.Codecs = st.codecs(videoCodec(p.parts[r.Name]))
		}
		out = append(out, v)
	}
	return out
}

func (st *Stream) codecs(video string) string {
	if video == "" {
		video = "avc1.4d401f" // what the ladder's libx264 main profile writes when the output could not be read
	}
	if st.pub.Audio == "" {
		return video
	}
	if st.b.cfg.SourceOnly {
		return video + "," + opusCodec // published as cut: the publisher's Opus
	}
	return video + "," + aacLC
}

// videoCodec reads the RFC 6381 codec string from the first SPS in an
// MPEG-TS segment, or "" if there is none.
func videoCodec(ts []byte) string {
	if len(ts) == 0 {
		return ""
	}
	d := mpegts.NewDemuxer(bytes.NewReader(ts))
	for range 64 {
		pes, err := d.Next()
		if errors.Is(err, io.EOF) || err != nil {
			return ""
		}
		if pes.StreamType != mpegts.StreamTypeH264 {
			continue
		}
		for _, n := range media.SplitAnnexB(pes.Data) {
			if media.NALUType(n) == 7 {
				if info, err := media.ParseSPS(n); err == nil {
					return info.CodecString()
				}
			}
		}
	}
	return ""
}
