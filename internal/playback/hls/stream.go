package hls

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sessionState is where a session is in its life.
type sessionState int

const (
	stateLive     sessionState = iota
	stateEnded                 // End was called; playlists are VOD
	stateArchived              // a later Open moved the session away
)

// entry is one stored segment number, shared by every rendition.
type entry struct {
	Seq      uint64
	Duration time.Duration
	Start    time.Time        // wall-clock time of its first frame (EXT-X-PROGRAM-DATE-TIME); zero: unknown
	Gap      bool             // Seq did not follow the previous entry's
	Sizes    map[string]int64 // bytes stored per rendition
	// Parts holds the partial segments of the renditions that streamed
	// this segment, until pruneParts forgets them.
	Parts map[string][]partInfo
}

// renditionStats measures what a rendition's playlist references.
type renditionStats struct {
	bytes int64         // of the rendition's own segments so far
	dur   time.Duration // their total duration
	peak  float64       // bits/s, RFC 8216 §4.3.4.2 "peak segment bit rate"
}

// Stream is one session of a stream. Its methods are safe for concurrent
// use; AddSegment calls are expected one at a time in seq order.
type Stream struct {
	store *Store
	name  string
	dir   string
	log   *slog.Logger

	mu             sync.RWMutex
	state          sessionState
	started, ended time.Time
	firstUnique    uint64
	variants       []Variant
	entries        []entry
	total          time.Duration
	target         int // EXT-X-TARGETDURATION, 0 before the first segment
	stats          map[string]*renditionStats
	substitutions  uint64
	targetRaises   uint64
	gapNext        bool // Discontinue was called: the next segment is preceded by a discontinuity
	// multivariant is the multivariant playlist last written: it changes
	// only with the variants or their measured bitrates, so most segments
	// need not rewrite it.
	multivariant []byte

	// Low-Latency HLS (part.go, live.go, blocking.go).
	pending  []pendingSegment // segments in progress, by seq; parts only
	ll       bool             // a part was added: live playlists carry the part tags
	pruned   int              // entries below this index have no part files left
	reserved uint64           // one past the highest seq that had parts (nextSeq)
	parts    uint64           // parts stored, for Stats
	// changed is closed and replaced whenever a part or segment is added
	// or the session ends: every blocked request wakes and looks again.
	changed chan struct{}
	waiting atomic.Int32 // requests blocked on changed, for tests
}

// Stats is a snapshot of a session's counters.
type Stats struct {
	// Segments counts the segment numbers stored.
	Segments int
	// Substitutions counts (segment, rendition) pairs that play the source
	// rendition's bytes because the rendition's own were missing.
	Substitutions uint64
	// TargetDuration is EXT-X-TARGETDURATION in seconds.
	TargetDuration int
	// TargetRaises counts segments that forced a larger target duration.
	TargetRaises uint64
	// Ended says End was called (or the session was archived).
	Ended bool
	// Parts counts the partial segments stored (AddPart).
	Parts uint64
}

func newStream(s *Store, name string, vs []Variant, started time.Time, firstUnique uint64) *Stream {
	st := &Stream{
		store: s, name: name, dir: filepath.Join(s.cfg.Dir, name),
		log:     s.log.With("stream", name),
		started: started, firstUnique: firstUnique, variants: vs,
		stats: make(map[string]*renditionStats), changed: make(chan struct{}),
	}
	for _, v := range vs {
		st.stats[v.Name] = &renditionStats{}
	}
	return st
}

// streamFromManifest rebuilds a session read from disk.
func streamFromManifest(s *Store, m *Manifest) *Stream {
	st := newStream(s, m.Stream, m.Variants, m.Started, m.FirstUniqueSeq)
	st.ended, st.reserved = m.Ended, m.NextSeq
	if !m.Ended.IsZero() {
		st.state = stateEnded
	}
	for _, r := range m.Segments {
		st.append(entry{Seq: r.Seq, Duration: r.duration(), Start: r.Start, Gap: r.Gap, Sizes: r.Sizes})
	}
	return st
}

// create makes the session's directories and first manifest.
func (st *Stream) create() error {
	for _, v := range st.variants {
		if err := os.MkdirAll(filepath.Join(st.dir, v.Name), 0o755); err != nil {
			return st.store.noteWrite(st.name+" directories", err)
		}
	}
	return st.store.noteWrite(st.name+" manifest", writeManifest(st.dir, st.manifest()))
}

func (st *Stream) source() string { return st.store.cfg.SourceRendition }

// Name returns the stream's name.
func (st *Stream) Name() string { return st.name }

// FirstUniqueSeq returns the lowest segment number whose URL no earlier
// session of this stream name has used. Segments numbered from here on are
// served with a long Cache-Control max-age; lower numbers get "no-cache",
// since a browser may still hold the earlier session's segment of that URL.
func (st *Stream) FirstUniqueSeq() uint64 { return st.firstUnique }

// Stats returns the session's counters.
func (st *Stream) Stats() Stats {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return Stats{
		Segments: len(st.entries), Substitutions: st.substitutions,
		TargetDuration: st.target, TargetRaises: st.targetRaises,
		Ended: st.state != stateLive, Parts: st.parts,
	}
}

// Times are when the session started and ended (zero while live).
func (st *Stream) Times() (started, ended time.Time) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.started, st.ended
}

// Dir is the session's directory: {Dir}/{stream} while it is current.
func (st *Stream) Dir() string { return st.dir }

// SegmentPath is the file that holds segment seq of a rendition once
// AddSegment has stored it.
func (st *Stream) SegmentPath(rendition string, seq uint64) string {
	return filepath.Join(st.dir, rendition, segmentFile(seq))
}

// SetVariants replaces the stream's variant list, e.g. once codecs and the
// source resolution are known from the first segment. A rendition new to the
// session plays the source's segments for the numbers already stored. The
// playlists and manifest are rewritten.
func (st *Stream) SetVariants(variants []Variant) error {
	vs, err := normalizeVariants(variants, st.source())
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state == stateArchived {
		return fmt.Errorf("%w: session of %s archived", ErrClosed, st.name)
	}
	st.variants = vs
	for _, v := range vs {
		if err := os.MkdirAll(filepath.Join(st.dir, v.Name), 0o755); err != nil {
			return err
		}
		if st.stats[v.Name] == nil {
			st.stats[v.Name] = &renditionStats{}
			for i := range st.entries {
				st.measure(v.Name, i)
			}
		}
	}
	if err := st.writePlaylists(st.state == stateEnded); err != nil {
		return st.store.noteWrite(st.name+" playlists", err)
	}
	return st.store.noteWrite(st.name+" manifest", writeManifest(st.dir, st.manifest()))
}

// Discontinue marks the next segment as following a discontinuity
// (EXT-X-DISCONTINUITY): the publisher reconnected, and its encoder's
// timeline and parameters start afresh.
func (st *Stream) Discontinue() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.gapNext = true
}

// End closes the session: every media playlist becomes the full list of the
// session's segments with EXT-X-PLAYLIST-TYPE:VOD and EXT-X-ENDLIST
// (RFC 8216 §4.3.3.4, §4.3.3.5), so it stays playable from disk. End is
// idempotent.
func (st *Stream) End() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.end()
}

func (st *Stream) end() error {
	if st.state != stateLive {
		return nil
	}
	if err := st.writeEnd(); err != nil {
		st.store.endLater(st)
		return st.store.noteWrite(st.name+" ending", err)
	}
	st.state = stateEnded
	st.dropAllParts()
	st.notify()
	st.store.endWritten(st)
	st.log.Info("hls: session ended", "segments", len(st.entries), "duration", st.total,
		"substitutions", st.substitutions)
	return nil
}

// writeEnd writes the VOD playlists and the manifest with the end time.
func (st *Stream) writeEnd() error {
	if err := st.writePlaylists(true); err != nil {
		return err
	}
	st.ended = st.store.cfg.Now()
	if err := writeManifest(st.dir, st.manifest()); err != nil {
		st.ended = time.Time{}
		return err
	}
	return nil
}

// retire ends the session and marks it archived, for Open to move it away.
// It returns the FirstUniqueSeq the next session inherits and the time the
// archived directory is named after.
func (st *Stream) retire() (uint64, time.Time, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.end(); err != nil {
		return 0, time.Time{}, err
	}
	st.state = stateArchived
	return st.nextSeq(), st.started, nil
}

// NextSeq is the first sequence number a later session of the stream may
// use without reusing a segment URL of this one.
func (st *Stream) NextSeq() uint64 {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.nextSeq()
}

// nextSeq is NextSeq under st.mu. Part URLs count too: a segment whose
// parts were published but which never completed ({seq}.0.ts may sit in
// a cache) keeps its number from the next session.
func (st *Stream) nextSeq() uint64 {
	next := max(st.firstUnique, st.reserved)
	if n := len(st.entries); n > 0 {
		next = max(next, st.entries[n-1].Seq+1)
	}
	return next
}

// manifest snapshots the session for stream.json.
func (st *Stream) manifest() *Manifest {
	m := &Manifest{
		Version: manifestVersion, Stream: st.name, Source: st.source(),
		Started: st.started.UTC(), Ended: st.ended.UTC(), TargetDuration: st.target,
		FirstUniqueSeq: st.firstUnique, Variants: slices.Clone(st.variants),
		Segments: make([]SegmentRecord, 0, len(st.entries)),
	}
	for _, e := range st.entries {
		m.Segments = append(m.Segments, e.record())
	}
	if n := len(st.entries); n == 0 || st.reserved > st.entries[n-1].Seq+1 {
		m.NextSeq = st.reserved
	}
	return m
}

func (e entry) record() SegmentRecord {
	return SegmentRecord{Seq: e.Seq, Duration: e.Duration.Seconds(), Start: e.Start, Gap: e.Gap,
		Sizes: maps.Clone(e.Sizes)}
}

// writePlaylists writes every media playlist, then the multivariant one, so
// that the multivariant playlist never names a media playlist not yet
// written. Nothing is written before the first segment: an empty playlist
// would only make players give up.
func (st *Stream) writePlaylists(vod bool) error {
	if len(st.entries) == 0 {
		return nil
	}
	var errs []error
	for _, v := range st.variants {
		p := st.mediaPlaylist(v.Name, vod).render()
		errs = append(errs, writeFileAtomic(filepath.Join(st.dir, v.Name, playlistFile), p))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hls: %s playlists: %w", st.name, err)
	}
	mv := renderMultivariant(st.streamInfs(), st.source())
	if bytes.Equal(mv, st.multivariant) {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(st.dir, playlistFile), mv); err != nil {
		return err
	}
	st.multivariant = mv
	return nil
}
