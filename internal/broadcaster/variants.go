package broadcaster

import (
	"math"
	"slices"

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

// observe folds a segment about to be published into what each rendition
// has served. Only the publish loop calls it, in segment order; the
// segments are read before st.mu is taken, off the RTP read path's lock.
func (st *Stream) observe(p *pending) {
	scans := make(map[string]segmentVideo, len(p.renditions))
	for name, data := range p.renditions {
		scans[name] = scanVideo(data)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for name, v := range scans {
		if st.served[name] == nil {
			st.served[name] = &served{}
		}
		st.served[name].add(v, p.seg.Duration())
	}
}

// declaredVariants (called under st.mu) describes the renditions as served so far: RESOLUTION,
// CODECS and FRAME-RATE are the most each has carried (see served), so the
// multivariant playlist grows with a source that ramps up and never
// promises less than a segment holds. BANDWIDTH is left to playback, which
// measures every rendition's own segments (RFC 8216's peak segment bit
// rate). A rung with no segment of its own yet is declared at the size
// FitSize gives it for the largest source so far.
func (st *Stream) declaredVariants() []hls.Variant {
	src := st.servedBy(transcode.SourceName)
	out := make([]hls.Variant, 0, len(st.rungs))
	for _, r := range st.rungs {
		s := st.servedBy(r.Name)
		v := hls.Variant{Name: r.Name, Width: s.width, Height: s.height,
			FrameRate: math.Round(s.fps*1000) / 1000, Codecs: st.codecs(s.codec())}
		if v.Width == 0 && !r.IsSource() {
			v.Width, v.Height = transcode.FitSize(r, src.width, src.height)
		}
		out = append(out, v)
	}
	return out
}

func (st *Stream) servedBy(name string) served {
	if s := st.served[name]; s != nil {
		return *s
	}
	return served{}
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

// capBitrates lowers each rung's bitrate to what the source spends per
// pixel (srcBps over srcW x srcH, measured over the last segment): a rung
// is made from the source's picture and cannot add detail to it, so
// spending more would only make a smaller rendition cost more than the
// source and turn the ladder's order upside down in players, which rank
// variants by BANDWIDTH. Never below transcode.MinBitrate.
func capBitrates(rungs []transcode.Profile, srcBps float64, srcW, srcH int) []transcode.Profile {
	if srcBps <= 0 || srcW <= 0 || srcH <= 0 {
		return rungs
	}
	out := slices.Clone(rungs)
	for i, r := range out {
		if r.IsSource() {
			continue
		}
		w, h := transcode.FitSize(r, srcW, srcH)
		share := int(srcBps * float64(w*h) / float64(srcW*srcH))
		out[i].Bitrate = min(r.Bitrate, max(transcode.MinBitrate, share))
	}
	return out
}
