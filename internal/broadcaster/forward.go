package broadcaster

import (
	"github.com/pion/rtp"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/relay"
)

// Each stream forwards its publisher's RTP to WHEP viewers through a
// relay. The relay belongs to the name's chain of sessions, not to one:
// a session that continues an interrupted one's playlists (reconnect.go)
// takes its relay over too, so viewers stay connected across the
// publisher's reconnect and pick up at its first keyframe. The relay
// closes, and its viewers' sessions end, when the playlists end.

// attachRelay gives st its predecessor's relay and rendition feeds, or
// new ones, and makes st's session the relay's source.
func (st *Stream) attachRelay(pred *Stream) {
	if pred != nil && pred.relay != nil {
		st.relay, st.feeds = pred.relay, pred.feeds
	} else {
		st.relay = relay.New(relay.Config{Logger: st.log})
		st.feeds = &feeds{byName: map[string]*feed{}}
	}
	st.fwd = st.relay.Attach(st.requestKeyframe)
}

// StartTrack records a track's codec for viewers (whip.RTPWriter).
func (st *Stream) StartTrack(kind media.Kind, c whip.TrackCodec) {
	st.fwd.SetCodec(kind, relay.Codec{MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels, Fmtp: c.Fmtp})
}

// WriteRTP forwards one of the publisher's packets to the stream's
// viewers (whip.RTPWriter); it never blocks.
func (st *Stream) WriteRTP(kind media.Kind, p *rtp.Packet) { st.fwd.Write(kind, p) }

// playing is the named stream's live session, or its interrupted one
// waiting for its publisher; nil when neither.
func (b *Broadcaster) playing(name string) *Stream {
	b.mu.Lock()
	defer b.mu.Unlock()
	if h := b.held[name]; h != nil {
		return h.st
	}
	st := b.streams[name]
	if st == nil || st.relay == nil || st.isEnded() {
		return nil
	}
	return st
}

// viewers is the number of WHEP viewers of st's relay.
func (st *Stream) viewers() int {
	if st.relay == nil {
		return 0
	}
	return st.relay.Viewers()
}
