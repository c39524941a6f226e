package hls

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults for Config fields left zero.
const (
	// DefaultWindow is Config.Window's default, the segments a live media
	// playlist lists.
	DefaultWindow = 6
	// DefaultSourceRendition is Config.SourceRendition's default.
	DefaultSourceRendition = "source"
	// DefaultSegmentMaxAge is Config.SegmentMaxAge's default.
	DefaultSegmentMaxAge = 24 * time.Hour
	// DefaultPartTarget is Config.PartTarget's default, the Part Target
	// Duration of Low-Latency HLS (draft-pantos-hls-rfc8216bis §4.4.3.7):
	// with PART-HOLD-BACK at three parts, players sit 1.5 s behind the
	// live edge.
	DefaultPartTarget = 500 * time.Millisecond
)

// maxPartTarget bounds Config.PartTarget: a part longer than the
// segments it divides gains nothing.
const maxPartTarget = 10 * time.Second

// Config configures a Store.
type Config struct {
	// Dir is the root of the live sessions, e.g. DATA/hls.
	Dir string
	// Window is the number of segments a live media playlist lists
	// (default 6); it is stretched when needed to keep three target
	// durations in the playlist (RFC 8216 §6.2.2).
	Window int
	// Logger receives warnings (fallback segments, raised target duration)
	// and session events; nil discards them.
	Logger *slog.Logger

	// ArchiveDir receives earlier sessions (default: "archive" beside Dir,
	// e.g. DATA/archive). It must be on Dir's file system: sessions are
	// moved there with a rename.
	ArchiveDir string
	// SourceRendition names the rendition that every segment carries and
	// that other renditions fall back to (default "source").
	SourceRendition string
	// SegmentMaxAge is the Cache-Control max-age of segments whose URL is
	// unique to their session, and of everything under /hls/archive/
	// (default 24h).
	SegmentMaxAge time.Duration
	// EndedPlaylistMaxAge is the Cache-Control max-age of an ended
	// session's playlists at /hls/{stream}/. Zero (the default) sends
	// "no-cache": the same URLs become a live playlist again when the
	// stream name is reused, and a player never reloads a VOD playlist it
	// got from a cache. The archived copies are cached for SegmentMaxAge.
	EndedPlaylistMaxAge time.Duration
	// MinFree is the free space below which the store counts as unable to
	// write (Writable fails) while its writes still succeed: new streams
	// are refused before the disk is full, and the streams already live
	// keep what is left (default DefaultMinFree; negative: no minimum).
	MinFree int64
	// RetryInterval is how often a store that cannot write probes its
	// file system and retries the endings it could not write (default
	// DefaultRetryInterval).
	RetryInterval time.Duration
	// Now is the clock (default time.Now); tests fix it.
	Now func() time.Time
	// PartTarget is the Part Target Duration of Low-Latency HLS: no part
	// given to Stream.AddPart may be longer (default DefaultPartTarget,
	// so a zero Config serves LL-HLS). Negative disables partial
	// segments: AddPart stores nothing, and live playlists are served
	// from their files as plain RFC 8216 playlists.
	PartTarget time.Duration
}

// Store holds the HLS sessions of every stream under one directory.
type Store struct {
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	streams map[string]*Stream
	closed  bool

	health     health
	stop, done chan struct{} // the retry loop's
}

// New opens the store at cfg.Dir, creating it if needed. Sessions found on
// disk are served again; one left live by an earlier process (it crashed or
// was killed) is ended first, so that it is a complete VOD.
func New(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: empty Dir", ErrConfig)
	}
	cfg = withDefaults(cfg)
	if !validRenditionName(cfg.SourceRendition) {
		return nil, fmt.Errorf("%w: source rendition %q", ErrConfig, cfg.SourceRendition)
	}
	if cfg.PartTarget > maxPartTarget || cfg.PartTarget > 0 && cfg.PartTarget < time.Millisecond {
		// PART-TARGET is written in milliseconds; below one it reads 0.
		return nil, fmt.Errorf("%w: part target %v", ErrConfig, cfg.PartTarget)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.Logger, streams: make(map[string]*Stream),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.load(); err != nil {
		return nil, err
	}
	go s.retryLoop(s.stop, s.done)
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ArchiveDir == "" {
		cfg.ArchiveDir = filepath.Join(filepath.Dir(filepath.Clean(cfg.Dir)), "archive")
	}
	if cfg.SourceRendition == "" {
		cfg.SourceRendition = DefaultSourceRendition
	}
	if cfg.SegmentMaxAge <= 0 {
		cfg.SegmentMaxAge = DefaultSegmentMaxAge
	}
	if cfg.MinFree == 0 {
		cfg.MinFree = DefaultMinFree
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PartTarget == 0 {
		cfg.PartTarget = DefaultPartTarget
	}
	return cfg
}

// load rebuilds the sessions found under Dir. A directory whose manifest is
// unreadable is left alone (and not served); a later Open of that name
// moves it to the archive.
func (s *Store) load() error {
	dirs, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		name := d.Name()
		if !d.IsDir() || !validStreamName(name) {
			continue
		}
		m, err := LoadManifest(filepath.Join(s.cfg.Dir, name))
		if err == nil && m.Stream != name {
			err = fmt.Errorf("%w: names stream %q", ErrCorruptManifest, m.Stream)
		}
		if err != nil {
			s.log.Warn("hls: skipping stored session", "stream", name, "err", err)
			continue
		}
		sweepTemp(filepath.Join(s.cfg.Dir, name))
		st := streamFromManifest(s, m)
		// Parts a crash left: their numbers stay used (see nextSeq).
		st.reserved = max(st.reserved, sweepParts(st.dir, m.Variants))
		if m.Ended.IsZero() {
			s.log.Warn("hls: ending session left live by an earlier run", "stream", name)
			if err := st.End(); err != nil {
				return fmt.Errorf("hls: ending stored session %s: %w", name, err)
			}
		}
		s.streams[name] = st
	}
	return nil
}

// Open starts a new session of a stream and returns it. An earlier session
// of the same name is ended if still live and moved to
// {ArchiveDir}/{stream}/{started}/, where /hls/archive/ keeps serving it;
// nothing is deleted. A Stream value of the earlier session answers
// ErrClosed from then on.
func (s *Store) Open(stream string, variants []Variant) (*Stream, error) {
	if !validStreamName(stream) {
		return nil, fmt.Errorf("%w: stream %q", ErrInvalidName, stream)
	}
	vs, err := normalizeVariants(variants, s.cfg.SourceRendition)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var firstUnique uint64
	started := s.cfg.Now()
	archiveStamp := started
	if prev := s.streams[stream]; prev != nil {
		firstUnique, archiveStamp, err = prev.retire()
		if err != nil {
			return nil, err
		}
		delete(s.streams, stream)
	}
	if err := s.archive(stream, archiveStamp); err != nil {
		return nil, err
	}
	st := newStream(s, stream, vs, started, firstUnique)
	if err := st.create(); err != nil {
		return nil, err
	}
	s.streams[stream] = st
	s.log.Info("hls: session opened", "stream", stream, "variants", len(vs), "first_unique_seq", firstUnique)
	return st, nil
}

// archive moves {Dir}/{stream} to {ArchiveDir}/{stream}/{stamp}, adding a
// counter when two sessions started in the same second.
func (s *Store) archive(stream string, stamp time.Time) error {
	src := filepath.Join(s.cfg.Dir, stream)
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	base := filepath.Join(s.cfg.ArchiveDir, stream)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	name := stamp.UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		dst := filepath.Join(base, name)
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			if err := os.Rename(src, dst); err != nil {
				return fmt.Errorf("hls: archiving %s: %w", stream, err)
			}
			s.log.Info("hls: session archived", "stream", stream, "to", dst)
			return nil
		}
		name = stamp.UTC().Format("20060102T150405Z") + "-" + strconv.Itoa(i)
	}
}

// Close ends every live session (their playlists become complete VOD lists)
// and refuses further Opens. It is idempotent; the Handler keeps serving.
// An ending the store cannot write now is written by the next New, which
// ends the sessions it finds left live.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.stop)
	<-s.done
	var errs []error
	for _, st := range s.streams {
		errs = append(errs, st.End())
	}
	return errors.Join(errs...)
}

// NextSeq is the first sequence number a new session of the named stream
// may use: one past every segment its sessions on disk have (0 for a name
// never published).
func (s *Store) NextSeq(name string) uint64 {
	if st, ok := s.Stream(name); ok {
		return st.NextSeq()
	}
	return 0
}

// Names lists the streams that have a current session, in order.
func (s *Store) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.streams))
}

// Stream returns the current session of a stream, live or ended.
func (s *Store) Stream(name string) (*Stream, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.streams[name]
	return st, ok
}
