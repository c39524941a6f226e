package broadcaster

import (
	"time"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/playback/hls"
)

// A publisher whose connection drops (ICE failed, no media, or it came
// back and took its own session over) usually reconnects within seconds.
// Its new session continues the same playlists: viewers on the stable
// URLs see the next segments after one EXT-X-DISCONTINUITY, numbered on
// from the last, with the same ladder, instead of an ENDLIST and then a
// different session at the same URLs. The rule:
//
//   - A session that ended interrupted (whip.Interrupted) holds its
//     playlists open, without ENDLIST, for ReconnectGrace.
//   - A new session of the name by the same owner (whip.Publish.Owner:
//     the permit's signer, the publish token, or nobody in particular on
//     a node without credentials) within that time continues them. So
//     does one that takes over a session (still open, or interrupted and
//     finishing its last segments): its first segment waits for those.
//   - Anyone else, or nobody within the grace, and the playlists end as
//     they would have; a session ended on purpose (DELETE, the node's
//     shutdown or decision) ends them at once.

// DefaultReconnectGrace is how long an interrupted session's playlists
// wait for their publisher to come back.
const DefaultReconnectGrace = 10 * time.Second

// held is an interrupted stream whose playlists wait for a reconnect.
type held struct {
	st    *Stream
	timer *time.Timer
}

// predecessorLocked is the earlier stream of p's name whose playlists p's
// session continues, claimed for it (nil: none). Called under b.mu.
func (b *Broadcaster) predecessorLocked(p whip.Publish) (pred, stale *Stream) {
	if h := b.held[p.Stream]; h != nil {
		delete(b.held, p.Stream)
		h.timer.Stop()
		if h.st.pub.Owner == p.Owner {
			return h.st, nil
		}
		return nil, h.st // someone else: the held playlists end now
	}
	old := b.streams[p.Stream]
	if old != nil && old.successor == nil && !old.isEnded() && old.pub.Owner == p.Owner && old.interruptedOrLive() {
		return old, nil // taken over, or still finishing its last segments: they come first
	}
	return nil, nil
}

// interruptedOrLive says whether st's session is still open (whip lets a
// new session of its name in only to take it over) or ended interrupted.
// One that ended on purpose is not continued: the new session would wait
// for its last transcodes for nothing.
func (st *Stream) interruptedOrLive() bool {
	return !st.closing.Load() || whip.Interrupted(st.reason())
}

// afterLast decides, as st's last segment is published, whether its
// playlists end now (true), or wait: for the successor that already
// continues them, or for a reconnect within ReconnectGrace.
func (b *Broadcaster) afterLast(st *Stream, h *hls.Stream) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case st.successor != nil:
		st.log.Info("playlists continue in the publisher's new session", "session", st.successor.pub.Session)
		return false
	case h == nil || b.cfg.ReconnectGrace <= 0 || b.closed || !whip.Interrupted(st.reason()):
		return true
	case b.streams[st.pub.Stream] != st:
		// A newer session of the name started (another owner, or one that
		// came while this one was ending): it opens playlists of its own.
		return true
	}
	b.held[st.pub.Stream] = &held{st: st, timer: time.AfterFunc(b.cfg.ReconnectGrace, func() { b.expire(st) })}
	st.log.Info("session interrupted: playlists wait for the publisher", "grace", b.cfg.ReconnectGrace)
	return false
}

// expire ends st's held playlists: nobody came back in time.
func (b *Broadcaster) expire(st *Stream) {
	b.mu.Lock()
	h := b.held[st.pub.Stream]
	mine := h != nil && h.st == st
	if mine {
		delete(b.held, st.pub.Stream)
	}
	b.mu.Unlock()
	if mine {
		st.log.Info("the publisher did not come back: playlists end")
		st.endPlaylists(st.hlsStream())
	}
}

// endHeld ends every held stream's playlists (the node is shutting down).
func (b *Broadcaster) endHeld() {
	b.mu.Lock()
	b.closed = true
	var sts []*Stream
	for name, h := range b.held {
		h.timer.Stop()
		sts = append(sts, h.st)
		delete(b.held, name)
	}
	b.mu.Unlock()
	for _, st := range sts {
		st.endPlaylists(st.hlsStream())
	}
}

// continuePlaylists takes over pred's playlists once pred has published
// its last segment, marking the break; nil when pred never had any.
func (st *Stream) continuePlaylists(pred *Stream) *hls.Stream {
	<-pred.drained
	h := pred.hlsStream()
	if h != nil {
		h.Discontinue()
		st.log.Info("continuing the playlists of the publisher's previous session", "previous", pred.pub.Session)
	}
	return h
}

// inherit starts st where pred left off: the same ladder, and what each
// rendition has carried (so the declared variants never shrink).
func (st *Stream) inherit(pred *Stream) {
	pred.mu.Lock()
	defer pred.mu.Unlock()
	st.rungs, st.variants = pred.rungs, pred.variants
	for name, s := range pred.served {
		c := *s
		st.served[name] = &c
	}
}
