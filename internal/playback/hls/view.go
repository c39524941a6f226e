package hls

import (
	"math"
	"time"
)

// This file derives what each playlist says from the session's entries.

// substituted says whether rendition name plays the source's segment for e.
func (st *Stream) substituted(e entry, name string) bool {
	_, own := e.Sizes[name]
	return !own && name != st.source()
}

// discontinuity says whether entry i of rendition name is preceded by
// EXT-X-DISCONTINUITY: where the encoding switches between the rendition's
// own segments and the source's, and where segment numbers were skipped.
func (st *Stream) discontinuity(i int, name string) bool {
	if i == 0 {
		return false
	}
	e := st.entries[i]
	return e.Gap || st.substituted(e, name) != st.substituted(st.entries[i-1], name)
}

// uri is the playlist line for e in rendition name's playlist, relative to
// that playlist so the tree on disk plays the same as over HTTP.
func (st *Stream) uri(e entry, name string) string {
	if st.substituted(e, name) {
		return "../" + st.source() + "/" + segmentFile(e.Seq)
	}
	return segmentFile(e.Seq)
}

// windowStart is the index of the first entry a live playlist lists: the
// last Window entries, stretched back while they last less than three
// target durations, the least RFC 8216 §6.2.2 lets a live playlist hold.
func (st *Stream) windowStart() int {
	w := max(0, len(st.entries)-st.store.cfg.Window)
	minDur := 3 * time.Duration(st.target) * time.Second
	var dur time.Duration
	for _, e := range st.entries[w:] {
		dur += e.Duration
	}
	for w > 0 && dur < minDur {
		w--
		dur += st.entries[w].Duration
	}
	return w
}

// mediaPlaylist builds rendition name's media playlist: the live window, or
// every segment when vod. The media sequence number of entry i is that of
// the first entry plus i (RFC 8216 §6.2.1 wants them consecutive); when the
// caller numbers segments without gaps it equals seq. Discontinuity tags that
// slid out of the window are counted in EXT-X-DISCONTINUITY-SEQUENCE
// (RFC 8216 §6.2.2).
func (st *Stream) mediaPlaylist(name string, vod bool) mediaPlaylist {
	from := 0
	if !vod {
		from = st.windowStart()
	}
	p := mediaPlaylist{
		TargetDuration: st.target,
		MediaSequence:  st.entries[0].Seq + uint64(from),
		VOD:            vod,
		Entries:        make([]mediaEntry, 0, len(st.entries)-from),
	}
	for i, e := range st.entries {
		disc := st.discontinuity(i, name)
		if i < from {
			if disc {
				p.DiscontinuitySequence++
			}
			continue
		}
		p.Entries = append(p.Entries, mediaEntry{Duration: e.Duration, URI: st.uri(e, name), Discontinuity: disc,
			Start: e.Start})
	}
	return p
}

// streamInfs builds the multivariant playlist's entries. BANDWIDTH is the
// larger of the declared figure and the measured peak (RFC 8216 §4.3.4.2
// makes it an upper bound); AVERAGE-BANDWIDTH is measured over the
// rendition's own stored segments (see measure). A rendition with nothing
// of its own yet and no declared figure plays only the source's segments,
// so it borrows the source's figures.
func (st *Stream) streamInfs() []streamInf {
	srcPeak, srcAvg := st.bitrates(st.source(), 0)
	infs := make([]streamInf, 0, len(st.variants))
	for _, v := range st.variants {
		peak, avg := st.bitrates(v.Name, v.Bandwidth)
		if peak == 0 {
			peak, avg = srcPeak, srcAvg
		}
		infs = append(infs, streamInf{Variant: v, Peak: peak, Average: avg, URI: v.Name + "/" + playlistFile})
	}
	return infs
}

// bitrates returns BANDWIDTH and AVERAGE-BANDWIDTH for a rendition in
// bits/s, rounded up.
func (st *Stream) bitrates(name string, declared int) (peak, avg int) {
	rs := st.stats[name]
	if rs == nil || rs.dur <= 0 {
		return declared, 0
	}
	avg = int(math.Ceil(float64(rs.bytes*8) / rs.dur.Seconds()))
	return max(declared, int(math.Ceil(rs.peak)), avg), avg
}

// Advertised returns the variants as the multivariant playlist declares
// them now, with BANDWIDTH (see streamInfs) as Bandwidth.
func (st *Stream) Advertised() []Variant {
	st.mu.RLock()
	defer st.mu.RUnlock()
	infs := st.streamInfs()
	out := make([]Variant, len(infs))
	for i, in := range infs {
		out[i] = in.Variant
		out[i].Bandwidth = in.Peak
	}
	return out
}
