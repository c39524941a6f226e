package glass

import "time"

// fillWindow is how long a missing packet may take to be retransmitted
// (RFC 4585 NACK) before it counts as lost: about what a browser's jitter
// buffer waits at most for video.
const fillWindow = time.Second

// maxPending bounds the packets waited for at once; a larger hole counts
// as lost at once.
const maxPending = 4096

// LossCounts is one track's (or a sum of tracks') packet accounting.
type LossCounts struct {
	Packets   uint64 `json:"packets"`   // received, retransmissions included
	Gaps      uint64 `json:"gaps"`      // sequence numbers missing on arrival of a later one
	Recovered uint64 `json:"recovered"` // of those, received within fillWindow
	Lost      uint64 `json:"lost"`      // of those, not received within fillWindow
}

func (c LossCounts) plus(o LossCounts) LossCounts {
	return LossCounts{c.Packets + o.Packets, c.Gaps + o.Gaps, c.Recovered + o.Recovered, c.Lost + o.Lost}
}

func (c LossCounts) minus(o LossCounts) LossCounts {
	return LossCounts{c.Packets - o.Packets, c.Gaps - o.Gaps, c.Recovered - o.Recovered, c.Lost - o.Lost}
}

// lossCounter follows one RTP stream's sequence numbers (RFC 3550 §A.1,
// extended to 64 bits) and waits fillWindow for each missing one. It is
// not safe for concurrent use.
type lossCounter struct {
	started bool
	highest int64
	pending map[int64]time.Time
	order   []int64 // pending sequence numbers, oldest gap first
	counts  LossCounts
}

// add counts a packet that arrived at now.
func (l *lossCounter) add(seq uint16, now time.Time) {
	l.counts.Packets++
	if !l.started {
		l.started, l.highest, l.pending = true, int64(seq), map[int64]time.Time{}
		return
	}
	l.expire(now) // a retransmission later than fillWindow is no recovery
	ext := l.highest + int64(int16(seq-uint16(l.highest)))
	switch {
	case ext > l.highest:
		for s := l.highest + 1; s < ext; s++ {
			l.gap(s, now)
		}
		l.highest = ext
	case l.pending != nil:
		if _, ok := l.pending[ext]; ok {
			delete(l.pending, ext)
			l.counts.Recovered++
		}
	}
}

func (l *lossCounter) gap(s int64, now time.Time) {
	l.counts.Gaps++
	if len(l.pending) >= maxPending {
		l.counts.Lost++
		return
	}
	l.pending[s] = now
	l.order = append(l.order, s)
}

// expire counts as lost what has waited longer than fillWindow.
func (l *lossCounter) expire(now time.Time) {
	for len(l.order) > 0 {
		s := l.order[0]
		at, ok := l.pending[s]
		if ok && now.Sub(at) < fillWindow {
			return
		}
		if ok {
			delete(l.pending, s)
			l.counts.Lost++
		}
		l.order = l.order[1:]
	}
}

// snapshot returns the counts with every wait over by now settled.
func (l *lossCounter) snapshot(now time.Time) LossCounts {
	l.expire(now)
	return l.counts
}
