package broadcaster

import (
	"sync"
	"time"

	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/playback/hls/parts"
)

// Each segment's renditions come back from the transcoder as they are
// made (transcode.Job.Partial, castnet/3's streamed answer): they are cut
// into LL-HLS parts and listed at once, so a viewer in low-latency mode is
// a part behind the transcoder, not a segment. The parts are a preview: the
// segment itself is published only once its renditions are checked, and a
// rendition that fails the checks loses its parts with it (hls drops the
// parts of a rendition that falls back to the source).

// segmentParts cuts one segment's renditions into parts.
type segmentParts struct {
	st     *Stream
	seq    uint64
	target time.Duration

	mu      sync.Mutex
	cutters map[string]*parts.Cutter
	stopped map[string]bool // a restart or a refused part: no more parts of it
}

func (st *Stream) newSegmentParts(seq uint64) *segmentParts {
	return &segmentParts{st: st, seq: seq, target: st.b.cfg.Store.PartTarget(),
		cutters: map[string]*parts.Cutter{}, stopped: map[string]bool{}}
}

// partial is the job's Partial; nil when the store lists no parts.
func (sp *segmentParts) partial() func(string, int64, []byte) {
	if sp.target <= 0 {
		return nil
	}
	return sp.write
}

// write cuts the next bytes of a rendition. Bytes from offset 0 after some
// came mean the work moved to another node mid-segment: the new encoder's
// pictures cannot continue the old one's parts, so the rendition's parts of
// this segment end there (the segment is listed without them).
func (sp *segmentParts) write(name string, off int64, b []byte) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	c := sp.cutters[name]
	switch {
	case sp.stopped[name]:
		return
	case off == 0 && c != nil:
		sp.stop(name, "the transcode restarted elsewhere mid-segment")
		return
	case c == nil:
		c = parts.NewCutter(sp.target, func(p hls.Part) { sp.add(name, p) })
		sp.cutters[name] = c
	}
	if _, err := c.Write(b); err != nil {
		sp.stop(name, err.Error())
	}
}

// add lists one part. Parts before the stream's playlists exist (its first
// segment) have nowhere to go. Called under sp.mu.
func (sp *segmentParts) add(name string, p hls.Part) {
	h := sp.st.hlsStream()
	if h == nil || sp.stopped[name] {
		return
	}
	if err := h.AddPart(name, sp.seq, p); err != nil {
		sp.stop(name, err.Error())
	}
}

// stop ends a rendition's parts of the segment. Called under sp.mu.
func (sp *segmentParts) stop(name, why string) {
	sp.stopped[name] = true
	delete(sp.cutters, name)
	if h := sp.st.hlsStream(); h != nil {
		h.DropParts(name, sp.seq)
	}
	sp.st.log.Info("LL-HLS parts of the segment stop", "seq", sp.seq, "rendition", name, "why", why)
}

// finish cuts each rendition's last part, once the transcoder is done and
// before the segment is published: its parts then cover it. A failed
// transcode's parts are dropped: the segment is published from another
// pass, or as cut.
func (sp *segmentParts) finish(segment time.Duration, failed bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for name, c := range sp.cutters {
		if failed {
			sp.stop(name, "the transcode failed")
		} else if err := c.CloseWithDuration(segment); err != nil {
			sp.stop(name, err.Error())
		}
	}
	sp.cutters = map[string]*parts.Cutter{}
}
