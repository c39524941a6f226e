package broadcaster

import (
	"slices"
	"time"
)

// The registry lists every live stream and the most recent ended ones. An
// ended stream stays so that its watch page, and a script that published
// it, can read how it ended; but names are free to choose, so without a
// bound a flood of short sessions under fresh names grows the heap and
// the listing without end (issue 11: 3,300 names held 12.8 MB and made
// /api/streams 2.8 MB). Ended records are kept for EndedTTL, at most
// KeepEnded of them, the oldest forgotten first.

// retired is an ended stream still listed, and when it ended.
type retired struct {
	st *Stream
	at time.Time
}

func registryDefaults(cfg Config) Config {
	if cfg.KeepEnded <= 0 {
		cfg.KeepEnded = DefaultKeepEnded
	}
	if cfg.EndedTTL <= 0 {
		cfg.EndedTTL = DefaultEndedTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// replaceLocked lists st under its name. A new session of a name replaces
// the record of its ended predecessor. Called under b.mu.
func (b *Broadcaster) replaceLocked(st *Stream) {
	if old := b.streams[st.pub.Stream]; old != nil {
		b.ended = slices.DeleteFunc(b.ended, func(r retired) bool { return r.st == old })
	}
	b.streams[st.pub.Stream] = st
	b.forgetLocked()
}

// retire keeps st's record as ended at at, forgetting the oldest ended
// beyond the bound. A stream already replaced by a newer session of its
// name is not listed again.
func (b *Broadcaster) retire(st *Stream, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.streams[st.pub.Stream] != st {
		return
	}
	b.ended = append(b.ended, retired{st: st, at: at})
	b.forgetLocked()
}

// forgetLocked drops ended streams past EndedTTL or beyond KeepEnded,
// oldest first. Called under b.mu.
func (b *Broadcaster) forgetLocked() {
	now := b.cfg.Now()
	drop := 0
	for drop < len(b.ended) && (len(b.ended)-drop > b.cfg.KeepEnded || now.Sub(b.ended[drop].at) >= b.cfg.EndedTTL) {
		st := b.ended[drop].st
		if b.streams[st.pub.Stream] == st {
			delete(b.streams, st.pub.Stream)
		}
		drop++
	}
	// Delete, not reslice: the dropped records must not stay reachable
	// through the slice's backing array.
	b.ended = slices.Delete(b.ended, 0, drop)
}

// lookup returns the named stream's record, or nil.
func (b *Broadcaster) lookup(name string) *Stream {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.forgetLocked()
	return b.streams[name]
}
