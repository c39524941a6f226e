package relay

import (
	"time"

	"github.com/castnet/castnet/internal/media"
)

// Sub is one viewer's subscription: a bounded queue of packets on the
// relay's numbering, starting at a keyframe.
type Sub struct {
	r  *Relay
	ch chan *Packet
	// Under r.mu:
	waiting bool      // no keyframe sent yet
	since   time.Time // when the wait began
	dropped uint64
	removed bool
}

// Subscribe adds a viewer. Its queue starts at once with audio, and with
// video from the cached keyframe when that is fresh; otherwise the
// publisher is asked for one and the viewer waits (see the package doc).
func (r *Relay) Subscribe() (*Sub, error) {
	s, pli, err := r.subscribe()
	if pli != nil {
		pli()
	}
	return s, err
}

// subscribe adds the viewer under the lock and returns the keyframe
// request to make, if it must wait, once the lock is released.
func (r *Relay) subscribe() (*Sub, func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, ErrClosed
	}
	s := &Sub{r: r, ch: make(chan *Packet, r.cfg.QueuePackets)}
	r.subs[s] = struct{}{}
	now := r.cfg.Now()
	s.waitKeyframe(now)
	t := r.tracks[media.KindVideo]
	cached := t != nil && t.keyframe.ok
	fresh := cached && now.Sub(t.keyframe.at) <= r.cfg.FreshKeyframe
	if fresh || cached && r.ignoresPLI {
		r.start(s, t.gop())
	}
	if fresh {
		return s, nil, nil
	}
	// Ask even a publisher that ignored the last request: one that
	// answers now is waited for again (noteKeyframe).
	r.pliAt = now
	return s, r.pli, nil
}

func (s *Sub) waitKeyframe(now time.Time) { s.waiting, s.since = true, now }

// C is the viewer's queue. It is closed when the viewer is removed or the
// relay closes: the viewer's session ends then.
func (s *Sub) C() <-chan *Packet { return s.ch }

// Dropped counts this viewer's packets lost to a full queue.
func (s *Sub) Dropped() uint64 {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.dropped
}

// Retransmit returns the packet of kind numbered seq, for a viewer's NACK
// (RFC 4585 §6.2.1), if the cache still holds it.
func (s *Sub) Retransmit(kind media.Kind, seq uint16) *Packet {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	t := s.r.tracks[kind]
	if t == nil {
		return nil
	}
	return t.cached(seq)
}

// Close removes the viewer; idempotent.
func (s *Sub) Close() {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.remove(s)
}

// remove takes s out of the relay and closes its queue, under r.mu.
func (r *Relay) remove(s *Sub) {
	if s.removed {
		return
	}
	s.removed = true
	delete(r.subs, s)
	close(s.ch)
}
