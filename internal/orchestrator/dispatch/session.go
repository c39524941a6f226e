package dispatch

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// tconn is one connected transcoder: its session and its slots.
type tconn struct {
	id, name, remote string
	capacity         int
	since            time.Time
	// send queues event lines for the session writer. It holds more than
	// the transcoder can have jobs and cancels outstanding, so a full queue
	// means the writer is stuck and the transcoder is dropped.
	send chan []byte
	gone chan struct{} // closed by Pool.drop

	// Guarded by Pool.mu.
	busy                   int
	done, failed, lostJobs uint64
}

// enqueue hands line to the session writer; false means the queue is full.
func (t *tconn) enqueue(line []byte) bool {
	select {
	case t.send <- line:
		return true
	default:
		return false
	}
}

// handle wraps an endpoint with the secret check: every transcoder request
// must carry Authorization: Bearer <secret> (RFC 6750 section 2.1).
func (p *Pool) handle(fn httpx.HandlerFunc) http.Handler {
	return httpx.Handle(p.log, func(w http.ResponseWriter, r *http.Request) error {
		if err := p.authorize(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="castnet transcoders"`)
			return err
		}
		return fn(w, r)
	})
}

// authorize compares hashes of the secrets in constant time, so neither the
// secret's bytes nor its length leak through timing.
func (p *Pool) authorize(r *http.Request) error {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return ErrNoSecret
	}
	got := hashSecret(strings.TrimSpace(token))
	if subtle.ConstantTimeCompare(got[:], p.secret[:]) != 1 {
		return ErrWrongSecret
	}
	return nil
}

func hashSecret(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// serveSession registers a transcoder and streams its events until it goes.
func (p *Pool) serveSession(w http.ResponseWriter, r *http.Request) error {
	params, err := remote.ParseSessionQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if !p.begin() {
		return ErrClosed
	}
	defer p.wg.Done()
	t, err := p.register(params, r.RemoteAddr)
	if err != nil {
		return err
	}
	p.drop(t, p.stream(w, r, t))
	return nil
}

// register adds a transcoder with all its slots free.
func (p *Pool) register(params remote.SessionParams, addr string) (*tconn, error) {
	t := &tconn{id: randomHex(16), name: params.Name, remote: addr, capacity: params.Capacity,
		since: time.Now(), send: make(chan []byte, 2*params.Capacity+8), gone: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.ts[t.id] = t
	p.mu.Unlock()
	p.log.Info("transcoder connected", "transcoder", t.id, "name", t.name, "capacity", t.capacity, "remote", addr)
	return t, nil
}

// drop forgets t and frees all its slots at once: its jobs see t.gone and
// move elsewhere. Only the first call does anything (and logs).
func (p *Pool) drop(t *tconn, reason string) {
	p.mu.Lock()
	if p.ts[t.id] != t {
		p.mu.Unlock()
		return
	}
	delete(p.ts, t.id)
	busy := t.busy
	p.mu.Unlock()
	close(t.gone)
	p.log.Info("transcoder gone", "transcoder", t.id, "name", t.name, "reason", reason, "jobs_in_flight", busy,
		"connected_for", time.Since(t.since).Round(time.Millisecond))
}

// stream writes hello, then queued events and pings, flushing each line,
// until the transcoder goes; it returns why.
func (p *Pool) stream(w http.ResponseWriter, r *http.Request, t *tconn) string {
	hb := p.cfg.Heartbeat
	rc := http.NewResponseController(w)
	// A write the transcoder does not drain in three heartbeats means it is
	// gone; without a deadline the writer could block forever.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	write := func(line []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(3 * hb)) // ErrNotSupported: no deadline, still correct
		if _, err := w.Write(line); err != nil {
			return err
		}
		return rc.Flush()
	}
	h := w.Header()
	h.Set("Content-Type", remote.SessionContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // ask reverse proxies not to buffer the stream
	w.WriteHeader(http.StatusOK)
	hello, _ := remote.EncodeEvent(remote.Event{Type: remote.EventHello, Transcoder: t.id, Heartbeat: hb})
	ping, _ := remote.EncodeEvent(remote.Event{Type: remote.EventPing})
	if err := write(hello); err != nil {
		return "writing hello: " + err.Error()
	}
	tick := time.NewTicker(hb)
	defer tick.Stop()
	for {
		var line []byte
		select {
		case <-r.Context().Done():
			return "session closed by the transcoder"
		case <-t.gone:
			return "dropped"
		case <-p.ctx.Done():
			return "orchestrator closing"
		case line = <-t.send:
		case <-tick.C:
			line = ping
		}
		if err := write(line); err != nil {
			return "write failed: " + err.Error()
		}
	}
}

// randomHex returns n random bytes as lowercase hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return fmt.Sprintf("%x", b)
}
