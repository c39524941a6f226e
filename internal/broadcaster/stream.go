package broadcaster

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/relay"
	"github.com/castnet/castnet/internal/segment"
	"github.com/castnet/castnet/internal/transcode"
)

// Stream states: starting until the publisher's first media arrives (its
// offer is answered, ICE and DTLS may still be under way), live from then,
// ended once its playlists are closed.
const (
	StateStarting = "starting"
	StateLive     = "live"
	StateEnded    = "ended"
)

// source is what the publisher's latest SPS says.
type source struct {
	width, height int
	codec         string // RFC 6381, e.g. avc1.42e01f
	fps           float64
}

// Stream is one publishing session's pipeline. It is the whip.Sink for the
// session: WriteAccessUnit runs on the RTP read path and never waits for
// transcoding.
type Stream struct {
	b      *Broadcaster
	pub    whip.Publish
	log    *slog.Logger
	seg    *segment.Segmenter
	queue  chan *pending
	pubWG  sync.WaitGroup
	closed sync.Once
	// closing is set when Close starts: the open segment is the last.
	closing atomic.Bool

	mu        sync.Mutex // guards everything below
	src       source
	rungs     []transcode.Profile // chosen at the first segment, kept for the session
	served    map[string]*served  // per rendition: the most it has carried
	lastSeg   *segment.Segment    // the segment opened before the newest
	inFlight  int
	stats     counters
	endedAt   time.Time
	state     string
	lastError string
	// oversize is set from a keyframe whose SPS is larger than
	// transcode.MaxDimension until a keyframe within it: those units are
	// dropped.
	oversize bool
	hls      *hls.Stream
	variants []hls.Variant
	// transport is the session's last counters, kept when the stream ends
	// so that its record need not hold the session (and its
	// PeerConnection) for as long as the name is listed.
	transport whip.SessionStats
	// storageFailing says the last segment could not be stored.
	storageFailing bool
	// pred is the interrupted stream whose playlists this one continues,
	// until its first segment takes them over (see reconnect.go); successor
	// the stream that continues this one's, set under b.mu.
	pred, successor *Stream
	// drained is closed once the last segment is published and the
	// playlists ended or handed on.
	drained chan struct{}
	// closeReason is why the session ended (Close's).
	closeReason error
	// recovered says the record was rebuilt from a session stored by an
	// earlier run of the node (see recovered.go).
	recovered bool
	// relay forwards the publisher's RTP to WHEP viewers, and fwd is this
	// session's feed into it (forward.go); both are set before the stream
	// is handed to whip and never change.
	relay *relay.Relay
	fwd   *relay.Source
	feeds *feeds // WHEP feeds of transcoded rungs (feeds.go), shared like relay
}

type counters struct {
	startedAt         time.Time
	rateBytes         uint64
	rateSince         time.Time
	bitrate           float64
	rated             chan struct{} // closed when bitrate is first measured
	segments          uint64
	published         uint64
	transcodeFailures uint64
	sourceOnly        uint64
	failed            uint64 // segments playback did not publish
	skipped           uint64
	firstKeyframe     time.Time
	firstPublished    time.Time
	turnaround        turnarounds
}

// markRated says the first bitrate window closed. Called under st.mu.
func (c *counters) markRated() {
	select {
	case <-c.rated:
	default:
		close(c.rated)
	}
}

func newStream(b *Broadcaster, p whip.Publish, firstSeq uint64, pred *Stream) (*Stream, error) {
	st := &Stream{b: b, pub: p, log: b.log.With("stream", p.Stream, "session", p.Session),
		queue: make(chan *pending, 64), state: StateStarting, served: map[string]*served{},
		drained: make(chan struct{})}
	if pred != nil {
		st.inherit(pred)
		st.pred = pred
	}
	now := time.Now()
	st.stats.startedAt, st.stats.rateSince, st.stats.rated = now, now, make(chan struct{})
	seg, err := segment.New(segment.Config{
		Target: b.cfg.Segment, Video: p.Video, Audio: p.Audio,
		RequestKeyframe: st.requestKeyframe, OnSegment: st.onSegment, FirstSeq: firstSeq, Logger: st.log,
	})
	if err != nil {
		return nil, fmt.Errorf("segmenter: %w", err)
	}
	st.seg = seg
	st.attachRelay(pred)
	b.wg.Add(1)
	st.pubWG.Add(1)
	go st.publishLoop()
	return st, nil
}

// requestKeyframe asks the publisher for an IDR while the session lasts.
func (st *Stream) requestKeyframe() {
	st.mu.Lock()
	ask := st.pub.RequestKeyframe
	st.mu.Unlock()
	if ask != nil {
		ask()
	}
}

// letGoOfSession keeps the session's last transport counters and drops
// every reference to it: an ended stream's record lives on in the API, and
// through these closures it would keep the PeerConnection's buffers (about
// 200 KiB) alive for every stream name ever published. Called under st.mu.
func (st *Stream) letGoOfSession() {
	if st.pub.Stats != nil {
		st.transport = st.pub.Stats()
	}
	st.pub.Stats, st.pub.RequestKeyframe = nil, nil
	st.lastSeg = nil // and the last segment's bytes
}

// WriteAccessUnit feeds one unit to the segmenter, noting the source's
// format from each keyframe's SPS.
func (st *Stream) WriteAccessUnit(au media.AccessUnit) {
	size := len(au.Data)
	for _, n := range au.NALUs {
		size += len(n)
	}
	st.mu.Lock()
	if st.state == StateStarting {
		st.state = StateLive
		st.log.Info("first media from the publisher", "after", time.Since(st.stats.startedAt).Round(time.Millisecond))
	}
	st.count(size)
	if au.Keyframe && len(au.NALUs) > 0 && media.NALUType(au.NALUs[0]) == 7 {
		st.noteSPS(au.NALUs[0])
	}
	drop := st.oversize
	st.mu.Unlock()
	if drop {
		return
	}
	if err := st.seg.Write(au); err != nil {
		st.setError(fmt.Errorf("segmenter: %w", err))
	}
}

// count updates the received bitrate, averaged over windows of at least a second.
func (st *Stream) count(size int) {
	st.stats.rateBytes += uint64(size)
	if d := time.Since(st.stats.rateSince); d >= time.Second {
		st.stats.bitrate = float64(st.stats.rateBytes*8) / d.Seconds()
		st.stats.markRated()
		st.stats.rateBytes, st.stats.rateSince = 0, time.Now()
	}
}

// bitrateNow is the received bitrate, decaying towards zero when packets
// stop: the last full window's figure holds for at most two seconds, then
// the open window's own rate is reported. Called under st.mu.
func (st *Stream) bitrateNow() float64 {
	d := time.Since(st.stats.rateSince)
	if d < 2*time.Second {
		return st.stats.bitrate
	}
	return float64(st.stats.rateBytes*8) / d.Seconds()
}

func (st *Stream) noteSPS(nalu []byte) {
	info, err := media.ParseSPS(nalu)
	if err != nil {
		st.lastError = "unreadable SPS: " + err.Error()
		return
	}
	// Bounded on every keyframe, not only the first: a picture that
	// switches mid-stream to 16896x16896 (all an SPS can say) would reach
	// ffmpeg at 400 MiB a frame.
	if big := info.Width > transcode.MaxDimension || info.Height > transcode.MaxDimension; big != st.oversize {
		st.oversize = big
		if big {
			st.lastError = fmt.Sprintf("SPS of %dx%d, above %d a side: video dropped until a keyframe within it",
				info.Width, info.Height, transcode.MaxDimension)
			st.log.Warn("oversized picture: dropping video", "width", info.Width, "height", info.Height)
		}
	}
	if st.oversize {
		return
	}
	if st.stats.firstKeyframe.IsZero() {
		st.stats.firstKeyframe = time.Now()
	}
	src := source{width: info.Width, height: info.Height, codec: info.CodecString(), fps: info.FrameRate()}
	if src.width != st.src.width || src.height != st.src.height {
		st.log.Info("source format", "width", src.width, "height", src.height, "codec", src.codec)
	}
	st.src = src
}

func (st *Stream) setError(err error) {
	st.mu.Lock()
	st.lastError = err.Error()
	st.mu.Unlock()
	st.log.Warn("stream error", "err", err)
}

// Close ends the stream: the open segment is finished, queued segments are
// published, and the playlists end (EXT-X-ENDLIST).
func (st *Stream) Close(reason error) {
	st.closed.Do(func() {
		st.mu.Lock()
		st.closeReason = reason
		st.mu.Unlock()
		st.closing.Store(true)
		if err := st.seg.Close(); err != nil {
			st.setError(err)
		}
		if reason != nil {
			st.setError(reason)
		}
		close(st.queue)
		go func() {
			st.pubWG.Wait()
			st.b.wg.Done()
		}()
	})
}

// reason is why the session ended (nil while it lasts, or when it ended
// on purpose).
func (st *Stream) reason() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.closeReason
}

// isEnded says whether the stream's last segment is published.
func (st *Stream) isEnded() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state == StateEnded
}

// hlsStream is the stream's playlists (nil before its first segment).
func (st *Stream) hlsStream() *hls.Stream {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.hls
}

// endPlaylists ends h (EXT-X-ENDLIST); a store that cannot write now
// retries it.
func (st *Stream) endPlaylists(h *hls.Stream) {
	if st.relay != nil {
		st.relay.Close() // its viewers' sessions end with the stream
		st.feeds.close()
	}
	if h == nil {
		return
	}
	if err := h.End(); err != nil {
		st.setError(fmt.Errorf("end playlists: %w", err))
	}
}
