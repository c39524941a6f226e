package hls

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A store that cannot write (a full disk, a read-only remount) must be
// loud and must catch up once it can write again. Every write failure is
// an ErrStorage, and makes Writable report it until a write succeeds, so
// the node stops accepting streams it could not keep. A session whose End
// failed stays pending: a retry loop ends it (EXT-X-ENDLIST and the
// manifest) once the store can write, probing it meanwhile.

// ErrStorage reports a write the store's file system refused; the
// stream's segment or ending was not stored.
var ErrStorage = errors.New("hls: cannot write the store")

// DefaultRetryInterval is how often a store that failed to write probes
// its file system and retries the endings still pending.
const DefaultRetryInterval = 5 * time.Second

// DefaultMinFree is the free space (256 MiB) a store keeps for the streams
// already live: about 15 minutes of a default ladder.
const DefaultMinFree = 256 << 20

// probeFile is written and removed to test that the store can write; its
// name, starting with '.', is never served.
const probeFile = ".probe"

// health is the store's writing health.
type health struct {
	mu      sync.Mutex
	failed  error     // the last write failure, nil once a write succeeds
	since   time.Time // when writes started failing
	pending map[*Stream]struct{}
}

// noteWrite records the outcome of a write: a failure marks the store
// unwritable (returned as ErrStorage), a success clears it.
func (s *Store) noteWrite(what string, err error) error {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	if err == nil {
		if s.health.failed != nil {
			s.log.Info("hls: the store can write again", "after", s.cfg.Now().Sub(s.health.since).Round(time.Second))
		}
		s.health.failed = nil
		return nil
	}
	if errors.Is(err, ErrStorage) {
		return err
	}
	err = fmt.Errorf("%w: %s: %w", ErrStorage, what, err)
	if s.health.failed == nil {
		s.health.since = s.cfg.Now()
		s.log.Error("hls: the store cannot write", "err", err)
	}
	s.health.failed = err
	return err
}

// Writable reports why the store cannot take a new stream now (nil: it
// can): its last write, or probe, failed, or its file system has less than
// MinFree left.
func (s *Store) Writable() error {
	s.health.mu.Lock()
	failed := s.health.failed
	s.health.mu.Unlock()
	if failed != nil {
		return failed
	}
	return s.checkFree()
}

// checkFree refuses a file system with less than MinFree available.
func (s *Store) checkFree() error {
	if s.cfg.MinFree < 0 {
		return nil
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(s.cfg.Dir, &fs); err != nil {
		return fmt.Errorf("%w: reading free space: %w", ErrStorage, err)
	}
	if free := int64(fs.Bavail) * int64(fs.Bsize); free < s.cfg.MinFree {
		return fmt.Errorf("%w: %d MiB free in %s, less than the %d MiB kept for live streams",
			ErrStorage, free>>20, s.cfg.Dir, s.cfg.MinFree>>20)
	}
	return nil
}

// endLater keeps st for the retry loop after its End failed.
func (s *Store) endLater(st *Stream) {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	if s.health.pending == nil {
		s.health.pending = map[*Stream]struct{}{}
	}
	s.health.pending[st] = struct{}{}
}

// endWritten notes that st's ending is stored: the store can write, and
// st no longer waits for a retry.
func (s *Store) endWritten(st *Stream) {
	_ = s.noteWrite("", nil)
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	delete(s.health.pending, st)
}

// PendingEnds counts the sessions whose End waits for the store to write.
func (s *Store) PendingEnds() int {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return len(s.health.pending)
}

// retryLoop probes an unwritable store and retries pending ends every
// RetryInterval until stop closes.
func (s *Store) retryLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.cfg.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.retry()
		}
	}
}

// retry probes the store when it last failed, then ends what is pending.
func (s *Store) retry() {
	if s.Writable() != nil {
		_ = s.noteWrite("probe", s.probe())
	}
	s.health.mu.Lock()
	pending := make([]*Stream, 0, len(s.health.pending))
	for st := range s.health.pending {
		pending = append(pending, st)
	}
	s.health.mu.Unlock()
	for _, st := range pending {
		_ = st.End() // success forgets it (endWritten)
	}
}

// probe writes and removes a small file in Dir.
func (s *Store) probe() error {
	p := filepath.Join(s.cfg.Dir, probeFile)
	err := os.WriteFile(p, make([]byte, 4096), 0o644)
	return errors.Join(err, os.Remove(p))
}

// sweepTemp removes the temporary files a crash or a full disk left in a
// session's directory (".NAME.tmp"; see writeFileAtomic).
func sweepTemp(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.HasSuffix(d.Name(), ".tmp") {
			_ = os.Remove(p)
		}
		return nil
	})
}
