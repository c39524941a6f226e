package broadcaster

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/playback/rtpfeed"
	"github.com/castnet/castnet/internal/relay"
	"github.com/castnet/castnet/internal/transcode"
)

// WHEP viewers of a transcoded rung are fed from the rung's published
// segments (internal/playback/rtpfeed): one ffmpeg per rung that someone
// watches, started by its first viewer and stopped once nobody has
// watched it for feedIdle. Like the relay, the feeds belong to the name's
// chain of sessions and end with its playlists.

// feedIdle is how long a rung's feed runs without viewers.
const feedIdle = 30 * time.Second

// ErrNoRendition refuses a WHEP viewer of a rung the stream lacks.
var ErrNoRendition = fmt.Errorf("the stream has no such rendition: %w", httpx.ErrNotFound)

// feeds are a stream chain's rendition feeds.
type feeds struct {
	mu     sync.Mutex
	byName map[string]*feed
	closed bool
}

type feed struct {
	f      *rtpfeed.Feeder
	viewed time.Time // last seen with a viewer (or started)
}

// relayOf returns the relay of rendition name's feed, starting it.
func (fs *feeds) relayOf(name, ffmpeg string, st *Stream) (*relay.Relay, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return nil, ErrNoStream
	}
	if fd := fs.byName[name]; fd != nil {
		fd.viewed = time.Now()
		return fd.f.Relay(), nil
	}
	f, err := rtpfeed.Start(rtpfeed.Config{FFmpeg: ffmpeg, Logger: st.log.With("rendition", name)})
	if err != nil {
		return nil, err
	}
	st.log.Info("WHEP feed of a rendition started", "rendition", name)
	fs.byName[name] = &feed{f: f, viewed: time.Now()}
	return f.Relay(), nil
}

// segment hands a published segment to each feed, its own rendition's
// bytes or the source's where it fell back, and stops the feeds nobody
// watches.
func (fs *feeds) segment(renditions map[string][]byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for name, fd := range fs.byName {
		if fd.f.Relay().Viewers() > 0 {
			fd.viewed = time.Now()
		}
		if time.Since(fd.viewed) > feedIdle {
			_ = fd.f.Close()
			delete(fs.byName, name)
			continue
		}
		b := renditions[name]
		if b == nil {
			b = renditions[transcode.SourceName]
		}
		fd.f.Segment(b)
	}
}

// close stops every feed; its viewers' sessions end.
func (fs *feeds) close() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.closed = true
	for name, fd := range fs.byName {
		_ = fd.f.Close()
		delete(fs.byName, name)
	}
}

// Relay returns the relay WHEP viewers of the named stream's rendition
// subscribe to: the publisher's own RTP for "" and the source, a feed of
// the rung's segments for a transcoded one. live is false when nothing
// of that name is live: its live session, or an interrupted one waiting
// for its publisher.
func (b *Broadcaster) Relay(name, rendition string) (r *relay.Relay, live bool, err error) {
	st := b.playing(name)
	switch {
	case st == nil:
		return nil, false, nil
	case rendition == "" || rendition == transcode.SourceName:
		return st.relay, true, nil
	case !st.hasRendition(rendition):
		return nil, true, ErrNoRendition
	}
	r, err = st.feeds.relayOf(rendition, b.cfg.FFmpeg, st)
	return r, true, err
}

// hasRendition says whether the stream publishes rendition.
func (st *Stream) hasRendition(rendition string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.ContainsFunc(st.variants, func(v hls.Variant) bool { return v.Name == rendition })
}
