package relay

import (
	"time"

	"github.com/pion/rtp"

	"github.com/castnet/castnet/internal/media"
)

// Write forwards one of the publisher's packets, as it arrives, to every
// viewer. It runs on the publisher's RTP read path and never blocks.
func (s *Source) Write(kind media.Kind, src *rtp.Packet) {
	r := s.r
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.src != s {
		return
	}
	r.stats.PacketsIn++
	t := r.track(kind, clockOf(kind))
	m, ok := t.mung.push(&src.Header, len(src.Payload) == 0, now)
	if !ok {
		r.stats.PaddingDrops++
		return
	}
	p := packetOf(kind, src, m)
	t.store(p)
	key := m.fresh && t.observe(p, now)
	if key {
		r.stats.Keyframes++
		r.noteKeyframe(now)
	}
	for s := range r.subs {
		r.deliver(s, t, p, key)
	}
}

// deliver hands p to one viewer: video waits for the viewer's first
// keyframe, replayed from its first packet once it shows.
func (r *Relay) deliver(s *Sub, t *track, p *Packet, key bool) {
	if p.Kind != media.KindVideo || !s.waiting {
		r.enqueue(s, p)
		return
	}
	switch {
	case key:
		r.start(s, t.gop())
	case r.cfg.Now().Sub(s.since) >= r.cfg.KeyframeWait:
		if gop := t.gop(); gop != nil {
			r.ignoresPLI = true // later viewers start from the cache at once
			r.log.Debug("relay: keyframe request unanswered; starting a viewer from the cached GOP",
				"age", r.cfg.Now().Sub(t.keyframe.at))
			r.start(s, gop)
		}
	}
}

// start ends a viewer's wait with a keyframe's packets.
func (r *Relay) start(s *Sub, gop []*Packet) {
	if gop == nil {
		return
	}
	s.waiting = false
	for _, p := range gop {
		r.enqueue(s, p)
	}
}

func (r *Relay) enqueue(s *Sub, p *Packet) {
	select {
	case s.ch <- p:
	default:
		s.dropped++
		r.stats.Dropped++
	}
}

// clockOf is the RTP clock of castnet's codecs: H.264 90 kHz (RFC 6184
// §8.2.1), Opus 48 kHz (RFC 7587 §4.1).
func clockOf(kind media.Kind) uint32 {
	if kind == media.KindAudio {
		return 48000
	}
	return 90000
}

// noteKeyframe learns whether the publisher answers PLIs: a keyframe
// within KeyframeWait of a request says it does (a browser), and viewers
// wait for the next one again. Called under r.mu.
func (r *Relay) noteKeyframe(now time.Time) {
	if !r.pliAt.IsZero() && now.Sub(r.pliAt) < r.cfg.KeyframeWait {
		r.ignoresPLI = false
	}
}
