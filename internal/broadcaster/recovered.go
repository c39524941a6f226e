package broadcaster

import (
	"slices"

	"github.com/castnet/castnet/internal/ingest/whip"
)

// A node that restarts (after a crash, a kill or a clean stop) finds the
// streams of its earlier run on disk: the HLS store serves them as VOD.
// The API lists them too, as ended and recovered: their records are
// rebuilt from the stored sessions, so they know the times, the segments
// and the renditions, but none of the live counters (bitrate, transport,
// failures), which were never written down.

// recoverStored lists the store's sessions that ended within EndedTTL, as
// any ended stream is listed. Called by New, before any session starts.
func (b *Broadcaster) recoverStored() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range b.cfg.Store.Names() {
		if st := b.recovered(name); st != nil {
			b.streams[name] = st
			b.ended = append(b.ended, retired{st: st, at: st.endedAt})
		}
	}
	sortRetired(b.ended)
	b.forgetLocked()
}

// recovered rebuilds the record of the named stream's stored session, or
// nil when it has none or it is still live (it is being published).
func (b *Broadcaster) recovered(name string) *Stream {
	h, ok := b.cfg.Store.Stream(name)
	if !ok {
		return nil
	}
	started, ended := h.Times()
	if ended.IsZero() {
		return nil
	}
	n := uint64(h.Stats().Segments)
	st := &Stream{b: b, pub: whip.Publish{Stream: name}, log: b.log.With("stream", name),
		state: StateEnded, endedAt: ended, hls: h, recovered: true, served: map[string]*served{}}
	st.stats.startedAt, st.stats.segments, st.stats.published = started, n, n
	return st
}

// storedInfo is the record of a stream the registry no longer lists (it
// ended longer ago than EndedTTL) but whose session HLS still serves.
func (b *Broadcaster) storedInfo(name string) (StreamInfo, bool) {
	st := b.recovered(name)
	if st == nil {
		return StreamInfo{}, false
	}
	return st.Info(), true
}

// sortRetired orders ended records oldest first, as forgetLocked expects.
func sortRetired(rs []retired) {
	slices.SortStableFunc(rs, func(a, b retired) int { return a.at.Compare(b.at) })
}

// nextSeqOf is where a new session of st's name may number from, as far
// as st knows: one past the last segment its segmenter opened.
func (st *Stream) nextSeqOf() uint64 {
	if st.seg == nil { // recovered: the store knows its segments
		return 0
	}
	return st.seg.NextSeq()
}
