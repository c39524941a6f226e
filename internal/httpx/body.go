package httpx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Request bodies are read under deadlines set per Read, through
// http.ResponseController, rather than with http.Server.ReadTimeout. A
// ReadTimeout bounds the whole request, so it would cut a segment that
// streams for as long as its publisher takes to send it; and a deadline
// left on the connection when the body ends makes the server's background
// read fail, which cancels the request's context and ends a long response
// (an HLS playlist, the transcoder session). So each Read gets its own
// deadline, and the deadline is lifted when the body ends.

// Defaults for a Server's request bodies: a byte at least every 5 s, the
// whole body within 30 s. Routes that stream long bodies set their own
// with LimitBody.
const (
	DefaultBodyIdle    = 5 * time.Second
	DefaultBodyTimeout = 30 * time.Second
)

// bodyGrace bounds the server's own read of what a handler left unread
// (up to 256 KiB, to reuse the connection).
const bodyGrace = time.Second

// Body is a request body read under deadlines: each Read must return
// within the idle deadline, and the body must end within the total one,
// counted from the request's start. A Read past either fails with an error
// wrapping ErrRequestTimeout (408), and the connection is closed once the
// response is written.
type Body struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	start time.Time

	mu      sync.Mutex
	idle    time.Duration
	total   time.Duration
	armed   time.Time // the deadline of the Read in flight; zero when none is
	ended   bool      // EOF, a failure or Close: the connection's deadline is no longer ours
	expired error     // why the body was cut off
}

// LimitBody sets the deadlines r's body is read under (0: none) and
// returns it: a route that streams long bodies sets its own, one that
// needs the body quickly sets tighter ones. Call it before reading.
func LimitBody(w http.ResponseWriter, r *http.Request, idle, total time.Duration) *Body {
	b, ok := r.Body.(*Body)
	if !ok {
		b = newBody(w, r.Body)
		r.Body = b
	}
	b.mu.Lock()
	b.idle, b.total = idle, total
	b.mu.Unlock()
	return b
}

func newBody(w http.ResponseWriter, body io.ReadCloser) *Body {
	if body == nil {
		body = http.NoBody
	}
	return &Body{body: body, rc: http.NewResponseController(w), start: time.Now()}
}

// Read reads under the deadlines.
func (b *Body) Read(p []byte) (int, error) {
	if err := b.arm(); err != nil {
		return 0, err
	}
	n, err := b.body.Read(p)
	return n, b.settle(err)
}

// arm sets the deadline of the next Read.
func (b *Body) arm() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.expired != nil {
		return b.expired
	}
	if !b.ended {
		b.armed = b.deadline(time.Now())
		_ = b.rc.SetReadDeadline(b.armed) // ErrNotSupported: no deadline, still correct
	}
	return nil
}

// deadline is the earlier of the idle and total deadlines; zero for none.
func (b *Body) deadline(now time.Time) time.Time {
	var d time.Time
	if b.idle > 0 {
		d = now.Add(b.idle)
	}
	if end := b.start.Add(b.total); b.total > 0 && (d.IsZero() || end.Before(d)) {
		d = end
	}
	return d
}

// settle notes that a Read returned, and ends the body on a read error: a
// deadline that passed becomes ErrRequestTimeout; at EOF the deadline is
// lifted, since the server's background read (which watches for the
// client going away) starts there.
func (b *Body) settle(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = time.Time{}
	switch {
	case err == nil:
		return nil
	case b.expired != nil:
		return b.expired
	case isTimeout(err) && !b.ended:
		b.expired = fmt.Errorf("%w: %s", ErrRequestTimeout, b.why(time.Now()))
		b.ended = true
		return b.expired
	case errors.Is(err, io.EOF) && !b.ended:
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	b.ended = true
	return err
}

func (b *Body) why(now time.Time) string {
	if b.total > 0 && !now.Before(b.start.Add(b.total)) {
		return fmt.Sprintf("the request body did not end within %v", b.total)
	}
	return fmt.Sprintf("no request body byte for %v", b.idle)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// Expire cuts the body off now with why (wrapped in ErrRequestTimeout): a
// Read blocked on it returns at once. It does nothing once the body ended.
func (b *Body) Expire(why string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended || b.expired != nil {
		return
	}
	b.expired = fmt.Errorf("%w: %s", ErrRequestTimeout, why)
	_ = b.rc.SetReadDeadline(time.Now())
}

// Expired returns why the body was cut off, or nil. The request's context
// ends too when a deadline passes, so a handler asks here which came
// first.
func (b *Body) Expired() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	// The server cancels the context when the Read fails, before that
	// Read returns here: a Read in flight past its deadline has failed.
	if now := time.Now(); b.expired == nil && !b.ended && !b.armed.IsZero() && !now.Before(b.armed) {
		b.expired = fmt.Errorf("%w: %s", ErrRequestTimeout, b.why(now))
	}
	return b.expired
}

// Close closes the body. What the handler left unread is then read by the
// server (up to 256 KiB, to reuse the connection) within bodyGrace or the
// body's own deadline, whichever is sooner, never for as long as a slow
// client likes; the deadline is not touched after that.
func (b *Body) Close() error {
	b.done()
	return b.body.Close()
}

// done lets go of the connection's deadline: see Close. It runs when the
// handler returns, too.
func (b *Body) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended || b.expired != nil {
		b.ended = true
		return
	}
	b.ended = true
	now := time.Now()
	d := now.Add(bodyGrace)
	if end := b.deadline(now); !end.IsZero() && end.Before(d) {
		d = end
	}
	_ = b.rc.SetReadDeadline(d)
}

// limitBodies reads every request body under idle and total (LimitBody
// changes them per route).
func limitBodies(h http.Handler, idle, total time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		b := LimitBody(w, r, idle, total)
		defer b.done()
		h.ServeHTTP(w, r)
	})
}
