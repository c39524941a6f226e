// Package broadcaster runs each published stream through castnet's
// pipeline: access units are cut into segments, each segment is transcoded
// into the ladder, and the renditions are published for playback, in order,
// with the source alone when transcoding fails.
package broadcaster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/transcode"
)

// ErrNoStream is returned for a stream the node has not seen.
var ErrNoStream = fmt.Errorf("no such stream: %w", httpx.ErrNotFound)

// Config configures a Broadcaster.
type Config struct {
	// Transcoder makes each segment's ladder. It may be nil only with
	// SourceOnly.
	Transcoder transcode.Transcoder
	// SourceOnly publishes every segment exactly as it was cut (H.264 and
	// Opus in MPEG-TS): no transcoding, no ffmpeg. For nodes that only
	// ingest and relay, and for measuring ingest alone.
	SourceOnly bool
	// Profiles are the ladder's rungs; each stream keeps those below its
	// source height (see transcode.Ladder).
	Profiles []transcode.Profile
	Store    *hls.Store
	// Segment is the target segment duration.
	Segment time.Duration
	// MaxInFlight bounds the segments of one stream being transcoded at
	// once; beyond it a segment is published as source only, so a node that
	// cannot keep up degrades instead of queueing without bound.
	MaxInFlight int
	// TranscodeTimeout bounds one segment's ladder transcode (default 10×
	// Segment + 20 s): generous so a loaded machine still finishes, finite
	// so a wedged ffmpeg cannot hold the stream.
	TranscodeTimeout time.Duration
	// Custody, when set, records each published segment with what vouches
	// for it (internal/trust's custody log).
	Custody func(Custody) error
	// KeepEnded is how many ended streams the registry keeps for the API
	// (default DefaultKeepEnded); beyond it the oldest ended is forgotten,
	// so a flood of short sessions under fresh names costs bounded memory.
	KeepEnded int
	// EndedTTL is how long an ended stream stays listed (default
	// DefaultEndedTTL): long enough for a watch page or a script to read
	// how it ended.
	EndedTTL time.Duration
	// AdminToken, when set, lets a request with "Authorization: Bearer
	// AdminToken" see each stream's WHIP session id and publisher address,
	// which the public API never shows (see Handler).
	AdminToken string
	// ReconnectGrace is how long an interrupted session's playlists wait
	// for their publisher's next session to continue them (default
	// DefaultReconnectGrace; negative: they end at once). See reconnect.go.
	ReconnectGrace time.Duration
	// FFmpeg is the ffmpeg binary that feeds WHEP viewers of a transcoded
	// rung (default "ffmpeg").
	FFmpeg string
	// Now is the clock for ending and forgetting streams (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Registry defaults: an ended record is a few KiB, so the default bounds
// them to well under a MiB, and keeps each for an hour.
const (
	DefaultKeepEnded = 100
	DefaultEndedTTL  = time.Hour
)

// Custody is one published segment, for the custody log: the session's
// directory, the source bytes that were signed, the renditions in the
// order the receipt hashes them, and the receipt ("" when unsigned, with
// Why).
type Custody struct {
	Dir    string
	Stream string
	Seq    uint64
	Source []byte
	Names  []string
	// Profiles are what the job that made the renditions asked for (the
	// Segment record commits to their hash).
	Profiles []transcode.Profile
	Proof    string
	Why      string
	// SourceFile is where playback stored Source as is (-source-only),
	// or "".
	SourceFile string
	// Payer is who the session that made the segment bills it to
	// (whip.Publish.Payer): the custody log links its permit.
	Payer fmt.Stringer
}

// Broadcaster is the registry of streams and the Starter WHIP sessions use.
type Broadcaster struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	streams map[string]*Stream
	ended   []retired        // the ended streams in streams, oldest first
	held    map[string]*held // interrupted streams waiting for their publisher (reconnect.go)
	closed  bool
	wg      sync.WaitGroup
}

// New builds a Broadcaster.
func New(cfg Config) (*Broadcaster, error) {
	if (cfg.Transcoder == nil && !cfg.SourceOnly) || cfg.Store == nil {
		return nil, errors.New("broadcaster: Transcoder (or SourceOnly) and Store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Segment <= 0 {
		cfg.Segment = 2 * time.Second
	}
	if cfg.TranscodeTimeout <= 0 {
		cfg.TranscodeTimeout = 10*cfg.Segment + 20*time.Second
	}
	if cfg.ReconnectGrace == 0 {
		cfg.ReconnectGrace = DefaultReconnectGrace
	}
	if cfg.MaxInFlight <= 0 {
		// Room for a failover: segments moved off an orchestrator that hung
		// are redone while the next ones are cut.
		cfg.MaxInFlight = 4
	}
	cfg = registryDefaults(cfg)
	if cfg.SourceOnly {
		cfg.Profiles = []transcode.Profile{} // the ladder is the source alone
	} else if cfg.Profiles == nil {
		cfg.Profiles = transcode.DefaultLadder()
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broadcaster{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, streams: map[string]*Stream{},
		held: map[string]*held{}}
	b.recoverStored()
	return b, nil
}

// StartStream opens the pipeline for a new publishing session.
func (b *Broadcaster) StartStream(_ context.Context, p whip.Publish) (whip.Sink, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	pred, stale := b.predecessorLocked(p)
	if stale != nil {
		go b.endStale(stale)
	}
	if pred != nil {
		_ = pred.seg.Close() // its last segment is cut: the numbers go on from here
	}
	st, err := newStream(b, p, b.firstSeqLocked(p.Stream), pred)
	if err != nil {
		return nil, err
	}
	if pred != nil {
		pred.successor = st
	}
	b.replaceLocked(st)
	return st, nil
}

// endStale ends the held playlists, and the viewers, of a name taken by
// someone else.
func (b *Broadcaster) endStale(st *Stream) {
	st.endPlaylists(st.hlsStream())
}

// firstSeqLocked numbers a new session's first segment after every
// segment of the name's earlier sessions, on disk or still being
// published, so that no segment URL (/hls/{name}/{rendition}/{seq}.ts)
// ever serves two different segments: caches may keep them for a day.
// Called under b.mu.
func (b *Broadcaster) firstSeqLocked(name string) uint64 {
	next := b.cfg.Store.NextSeq(name)
	if old := b.streams[name]; old != nil {
		next = max(next, old.nextSeqOf())
	}
	return next
}

// Accepting says why the node takes no new stream now (nil: it does): a
// store that cannot write would keep nothing of it (507). Anyone may POST,
// so the reason names no path on the node: the store's own error is in
// /readyz and the node's log.
func (b *Broadcaster) Accepting() error {
	if b.cfg.Store.Writable() != nil {
		return fmt.Errorf("the node cannot store streams now: its disk is full or failing (free space below its minimum, or a write failed); try again once its operator has freed space: %w",
			httpx.ErrInsufficientStorage)
	}
	return nil
}

// Stream returns the state of the named stream, as an operator sees it.
func (b *Broadcaster) Stream(name string) (StreamInfo, error) {
	st := b.lookup(name)
	if st == nil {
		if in, ok := b.storedInfo(name); ok {
			return in, nil
		}
		return StreamInfo{}, ErrNoStream
	}
	return st.Info(), nil
}

// Close waits for every stream's last segments to be published, giving up
// on transcodes still running after a grace period; idempotent.
func (b *Broadcaster) Close() error {
	b.mu.Lock()
	b.closed = true // no interrupted stream waits for a reconnect from here on
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.log.Warn("streams slow to finish; cancelling their transcodes")
		b.cancel()
		<-done
	}
	b.cancel()
	b.endHeld()
	return nil
}
