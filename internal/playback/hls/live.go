package hls

import "time"

// This file derives a live media playlist with the Low-Latency HLS tags
// (draft-pantos-hls-rfc8216bis) from the session's entries and its
// segments in progress. It is rendered per request under the stream's
// read lock; the files on disk stay plain RFC 8216 playlists. All of it is
// called with st.mu held.

// skipMode is a request's _HLS_skip directive (§6.2.5.1).
type skipMode int

const (
	skipNone skipMode = iota
	skipYes           // _HLS_skip=YES: skip old segments
	skipV2            // _HLS_skip=v2: and old date ranges (castnet has none)
)

// liveMedia builds rendition name's live playlist: the window with its
// program date-times, the parts near the live edge, the segment in
// progress, the preload hint and the other renditions' reports.
func (st *Stream) liveMedia(name string, skip skipMode) mediaPlaylist {
	p := st.mediaPlaylist(name, false)
	from, partsFrom := st.windowStart(), st.partsListedFrom(name)
	for k := range p.Entries {
		if i := from + k; i >= partsFrom {
			p.Entries[k].Parts = partLines(st.entries[i].Seq, st.entries[i].Parts[name])
		}
	}
	target := st.targetDuration()
	p.Live = &liveTags{
		// §4.4.3.8: HOLD-BACK at least three target durations (its
		// default, written out for clients that want it), CAN-SKIP-UNTIL
		// at least six.
		HoldBack: 3 * target, SkipUntil: 6 * target,
		Next: st.nextEntry(name), Hint: st.hint(name), Reports: st.reports(name),
	}
	if st.ll {
		// Every rendition carries the part tags once any has parts:
		// §6.2.4 wants EXT-X-SERVER-CONTROL alike in all of them, and
		// PART-HOLD-BACK is required beside EXT-X-PART-INF (§4.4.3.8).
		p.Live.PartTarget = st.store.cfg.PartTarget
	}
	applySkip(&p, skip)
	return p
}

// partLines are the EXT-X-PART lines of a rendition's parts of seq. Part
// URIs are relative to the playlist, like segment URIs.
func partLines(seq uint64, parts []partInfo) []partLine {
	if len(parts) == 0 {
		return nil
	}
	out := make([]partLine, len(parts))
	for i, pt := range parts {
		out[i] = partLine{Duration: pt.Duration, URI: partFile(seq, i), Independent: pt.Independent, Gap: pt.Gap}
	}
	return out
}

// partsListedFrom is the first entry whose parts rendition name's playlist
// lists: §6.2.2 wants EXT-X-PART tags gone once they are more than three
// target durations from the end of the playlist, which the parts in
// progress extend. A segment's parts go together: hls.js places a part by
// the parts before it in its segment.
func (st *Stream) partsListedFrom(name string) int {
	var trailing time.Duration
	for _, pt := range st.trailing(name) {
		trailing += pt.Duration
	}
	return max(st.partsKeptFrom(3*st.targetDuration()-trailing), st.pruned)
}

// trailing is rendition name's parts of the segment in progress: the
// lowest one, the only one a playlist can list (a part belongs to the next
// EXTINF, §3.2). Parts of later segments wait until it completes.
func (st *Stream) trailing(name string) []partInfo {
	if len(st.pending) == 0 {
		return nil
	}
	return st.pending[0].rends[name].listed()
}

// nextEntry is the segment in progress as rendition name lists it: its
// parts, preceded by the tags that will apply to it (§4.4.4.9 puts them
// before the first part). Its program date-time is the previous segment's
// end; AddSegmentAt may correct it by the encoder's drift.
func (st *Stream) nextEntry(name string) mediaEntry {
	parts := st.trailing(name)
	if len(parts) == 0 {
		return mediaEntry{}
	}
	seq := st.pending[0].seq
	last := st.entries[len(st.entries)-1]
	gap := seq != last.Seq+1 || st.gapNext
	e := mediaEntry{Parts: partLines(seq, parts), Discontinuity: gap || st.substituted(last, name)}
	if !gap && !last.Start.IsZero() {
		e.Start = last.Start.Add(last.Duration)
	}
	return e
}

// hint is the EXT-X-PRELOAD-HINT URI for rendition name (§4.4.5.3): the
// part after the last one it lists, when it streams parts.
func (st *Stream) hint(name string) string {
	seq, i, ok := st.nextPart(name)
	if !ok {
		return ""
	}
	return partFile(seq, i)
}

// nextPart is the part that rendition name's playlist will list next. A
// rendition streams parts when its segment in progress or its last
// segment has some; one that has none (it falls back to the source, or its
// producer cannot stream) gets no hint, so no client waits for it.
func (st *Stream) nextPart(name string) (seq uint64, i int, ok bool) {
	if len(st.pending) > 1 {
		for _, p := range st.pending[1:] {
			if len(p.rends[name].listed()) > 0 {
				// Its parts of the first segment in progress are all in;
				// the next one listed is this one's first.
				return p.seq, 0, true
			}
		}
	}
	if parts := st.trailing(name); len(parts) > 0 {
		return st.pending[0].seq, len(parts), true
	}
	last := st.entries[len(st.entries)-1]
	if len(last.Parts[name]) == 0 {
		return 0, 0, false
	}
	if len(st.pending) > 0 {
		return st.pending[0].seq, 0, true
	}
	return last.Seq + 1, 0, true
}

// reports are the EXT-X-RENDITION-REPORT tags of rendition name's
// playlist: one per other rendition (Appendix B.1 of the draft), as
// up to date as the playlist itself.
func (st *Stream) reports(name string) []renditionReport {
	out := make([]renditionReport, 0, len(st.variants))
	for _, v := range st.variants {
		if v.Name == name {
			continue
		}
		msn, part := st.lastListed(v.Name)
		out = append(out, renditionReport{URI: "../" + v.Name + "/" + playlistFile, LastMSN: msn, LastPart: part})
	}
	return out
}

// lastListed is the media sequence number and index of the last part
// rendition name's playlist lists, or its last segment's number and -1
// when it lists no part (§4.4.5.4 LAST-MSN, LAST-PART).
func (st *Stream) lastListed(name string) (msn uint64, part int) {
	n := len(st.entries)
	if parts := st.trailing(name); len(parts) > 0 {
		return st.msn(n), len(parts) - 1
	}
	for i := n - 1; i >= max(st.partsListedFrom(name), st.windowStart()); i-- {
		if k := len(st.entries[i].Parts[name]); k > 0 {
			return st.msn(i), k - 1
		}
	}
	return st.msn(n - 1), -1
}

// msn is the media sequence number of entry i (len(entries): the segment
// in progress); see mediaPlaylist.
func (st *Stream) msn(i int) uint64 { return st.entries[0].Seq + uint64(i) }

// applySkip turns p into a Playlist Delta Update (§6.2.5.1): the segments
// that end further than CAN-SKIP-UNTIL from the end of the last segment
// are replaced by EXT-X-SKIP. One too short to skip any is sent whole,
// without the tag. EXT-X-MEDIA-SEQUENCE and the discontinuity sequence
// stay those of the whole playlist (§4.4.5.2).
func applySkip(p *mediaPlaylist, mode skipMode) {
	if mode == skipNone {
		return
	}
	var dist time.Duration // from the end of entry i to the end of the last
	for i := len(p.Entries) - 1; i >= 0; i-- {
		if dist > p.Live.SkipUntil {
			p.Live.Skipped = i + 1
			p.Live.DateRanges = mode == skipV2
			p.Entries = p.Entries[i+1:]
			return
		}
		dist += p.Entries[i].Duration
	}
}
