package wish

import (
	"fmt"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/httpx"
)

// ErrShuttingDown refuses a new session while its server closes.
var ErrShuttingDown = httpx.WithRetryAfter(fmt.Errorf("node is shutting down: %w", httpx.ErrUnavailable), 5*time.Second)

// Table is a WHIP or WHEP server's registry of its sessions by id. A
// session counts from its reservation until it is released, once its
// goroutines are done, so Shut can end them all and wait for them. The
// callbacks of Reserve and Release run under the table's lock: a server
// keeps any index of its own (sessions by stream) consistent with it
// there.
type Table[S any] struct {
	mu     sync.Mutex
	byID   map[string]S
	closed bool
	wg     sync.WaitGroup
}

// Reserve adds s as id once check, given the number of sessions, accepts
// it. Nothing is added when check refuses or the table is shut.
func (t *Table[S]) Reserve(id string, s S, check func(n int) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrShuttingDown
	}
	if err := check(len(t.byID)); err != nil {
		return err
	}
	if t.byID == nil {
		t.byID = map[string]S{}
	}
	t.byID[id] = s
	t.wg.Add(1)
	return nil
}

// Release forgets id, running after (when not nil) under the lock first.
func (t *Table[S]) Release(id string, after func()) {
	t.mu.Lock()
	if after != nil {
		after()
	}
	delete(t.byID, id)
	t.mu.Unlock()
	t.wg.Done()
}

// Get returns the session id names.
func (t *Table[S]) Get(id string) (S, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byID[id]
	return s, ok
}

// Len is the number of sessions.
func (t *Table[S]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// Shut refuses new sessions, ends every session with end (outside the
// lock: end's session releases itself) and waits until all are released.
func (t *Table[S]) Shut(end func(S)) {
	t.mu.Lock()
	t.closed = true
	sessions := make([]S, 0, len(t.byID))
	for _, s := range t.byID {
		sessions = append(sessions, s)
	}
	t.mu.Unlock()
	for _, s := range sessions {
		end(s)
	}
	t.wg.Wait()
}
