package relay

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/castnet/castnet/internal/media"
)

// Defaults for Config fields left zero.
const (
	// DefaultCachePackets is how many packets of each track are kept for
	// retransmission and for starting viewers: at 2.5 Mb/s about 8 s of
	// video, a whole GOP of every publisher castnet knows.
	DefaultCachePackets = 2048
	// DefaultQueuePackets bounds each viewer's queue: about 3 s of a
	// 2.5 Mb/s stream, room for a replayed GOP.
	DefaultQueuePackets = 1024
	// DefaultFreshKeyframe: a cached keyframe this young starts a new
	// viewer at once.
	DefaultFreshKeyframe = 200 * time.Millisecond
	// DefaultKeyframeWait is how long a new viewer waits for the keyframe
	// its PLI asked for before it starts from the cached GOP: browsers
	// answer a PLI within a round trip and an encode; an encoder that
	// ignores PLIs (OBS, a prepared file) is not worth waiting for.
	DefaultKeyframeWait = 300 * time.Millisecond
)

// ErrClosed refuses a viewer of a relay whose stream has ended.
var ErrClosed = errors.New("relay: the stream has ended")

// Config configures a Relay.
type Config struct {
	CachePackets  int // per track (default DefaultCachePackets)
	QueuePackets  int // per viewer (default DefaultQueuePackets)
	FreshKeyframe time.Duration
	KeyframeWait  time.Duration
	Logger        *slog.Logger
	Now           func() time.Time // default time.Now
}

// Codec describes a track as the publisher negotiated it.
type Codec struct {
	MimeType  string
	ClockRate uint32
	Channels  uint16
	Fmtp      string
}

// Packet is one forwarded RTP packet on the relay's numbering. Viewers
// share it: it must not be modified.
type Packet struct {
	Kind    media.Kind
	Header  rtp.Header // no SSRC, payload type or extensions: each viewer's track sets its own
	Payload []byte
}

// Relay fans one stream's RTP out to its viewers.
type Relay struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	tracks map[media.Kind]*track
	subs   map[*Sub]struct{}
	pli    func()
	src    *Source // the publishing session whose packets are forwarded
	closed bool
	// pliAt is when a viewer's wait last asked the publisher for a
	// keyframe; ignoresPLI says the publisher did not answer the last
	// request within KeyframeWait (OBS, a prepared file), so a new viewer
	// starts from the cached GOP at once instead of waiting for nothing.
	pliAt      time.Time
	ignoresPLI bool
	stats      Stats
}

// Stats are a relay's counters.
type Stats struct {
	Viewers      int    `json:"viewers"`
	PacketsIn    uint64 `json:"packets_in"`
	PaddingDrops uint64 `json:"padding_dropped"`
	Keyframes    uint64 `json:"keyframes"`
	// Dropped counts packets lost to full viewer queues, all viewers.
	Dropped uint64 `json:"queue_dropped"`
}

// New builds a relay for one stream.
func New(cfg Config) *Relay {
	if cfg.CachePackets <= 0 {
		cfg.CachePackets = DefaultCachePackets
	}
	if cfg.QueuePackets <= 0 {
		cfg.QueuePackets = DefaultQueuePackets
	}
	if cfg.FreshKeyframe <= 0 {
		cfg.FreshKeyframe = DefaultFreshKeyframe
	}
	if cfg.KeyframeWait <= 0 {
		cfg.KeyframeWait = DefaultKeyframeWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Relay{cfg: cfg, log: cfg.Logger, tracks: map[media.Kind]*track{}, subs: map[*Sub]struct{}{}}
}

// Source is one publishing session feeding the relay. Once a later
// session is attached, an earlier one's packets are ignored: a session
// taken over may still deliver a few.
type Source struct{ r *Relay }

// Attach starts a new publishing session of the stream: its tracks are
// numbered on from the last packet sent, every viewer waits for its first
// keyframe (an encoder that starts afresh cannot continue the last one's
// pictures), and requestKeyframe (a PLI to the publisher) is what viewers'
// keyframe requests call from now on.
func (r *Relay) Attach(requestKeyframe func()) *Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.src, r.pli = &Source{r: r}, requestKeyframe
	r.ignoresPLI, r.pliAt = false, time.Time{} // a new publisher: ask it again
	r.reanchor()
	return r.src
}

// reanchor makes every track start a new source and every viewer wait
// for a keyframe of it. Called under r.mu.
func (r *Relay) reanchor() {
	for _, t := range r.tracks {
		t.mung.newSource()
		t.keyframe = keyframe{}
	}
	now := r.cfg.Now()
	for s := range r.subs {
		s.waitKeyframe(now)
	}
}

// SetCodec records a track's codec as the publisher negotiated it.
func (s *Source) SetCodec(kind media.Kind, c Codec) {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.src != s || r.closed {
		return
	}
	t := r.track(kind, c.ClockRate)
	t.codec, t.hasCodec = c, true
}

// Codec returns a track's codec, if the publisher has sent it.
func (r *Relay) Codec(kind media.Kind) (Codec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tracks[kind]
	if t == nil || !t.hasCodec {
		return Codec{}, false
	}
	return t.codec, true
}

// track returns kind's track state, creating it.
func (r *Relay) track(kind media.Kind, clock uint32) *track {
	t := r.tracks[kind]
	if t == nil {
		t = newTrack(kind, clock, r.cfg.CachePackets)
		r.tracks[kind] = t
	}
	return t
}

// RequestKeyframe asks the publisher for an IDR on a viewer's behalf.
// The publisher's session rate-limits the PLIs it sends.
func (r *Relay) RequestKeyframe() {
	r.mu.Lock()
	pli := r.pli
	r.mu.Unlock()
	if pli != nil {
		pli()
	}
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	st.Viewers = len(r.subs)
	return st
}

// Viewers is the number of subscribed viewers.
func (r *Relay) Viewers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs)
}

// Close ends the relay: every viewer's queue is closed, which ends its
// session, and no viewer may subscribe again. Idempotent.
func (r *Relay) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	for s := range r.subs {
		r.remove(s)
	}
	r.tracks, r.pli = nil, nil // the caches' memory goes now, not with the stream's record
}
