// Package dispatch is the orchestrator's side of the transcoder link
// (castnet/2, T ↔ O): a Pool of registered transcoder nodes that is itself
// a transcode.Transcoder. Transcoder nodes dial in and hold a session open
// (a streamed NDJSON response); each segment is buffered in memory as it
// arrives, offered to the node with the most free slots, and re-dispatched
// from byte 0 to another node if the first is lost mid-segment. See
// docs/protocol.md.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// Defaults for Config.
const (
	DefaultMaxSegmentBytes = 64 << 20
	DefaultHeartbeat       = remote.DefaultHeartbeat
	DefaultPickupTimeout   = 5 * time.Second
	DefaultRedispatch      = 2
)

// Errors returned by the Pool and its endpoints; each wraps its HTTP class.
var (
	// ErrNoTranscoder means no connected transcoder has a free slot; the
	// broadcaster should go to another orchestrator at once.
	ErrNoTranscoder = fmt.Errorf("no connected transcoder has a free slot: %w", remote.ErrBusy)
	// ErrLost means the job's transcoder went away (or kept failing) and no
	// other could take the segment over.
	ErrLost = fmt.Errorf("transcoder lost mid-segment: %w", httpx.ErrUnavailable)
	// ErrTooLarge means the segment passed Config.MaxSegmentBytes.
	ErrTooLarge = fmt.Errorf("segment too large: %w", httpx.ErrTooLarge)
	// ErrInput means reading the segment from the broadcaster failed.
	ErrInput = fmt.Errorf("reading segment: %w", transcode.ErrInput)
	// ErrBadJob means the job cannot be put on the wire.
	ErrBadJob = fmt.Errorf("job cannot be dispatched: %w", httpx.ErrBadRequest)
	// ErrUnknownJob answers a request for a job that is not in flight.
	ErrUnknownJob = fmt.Errorf("unknown or finished job: %w", httpx.ErrNotFound)
	// ErrBadResult answers a result that fails its checks.
	ErrBadResult = fmt.Errorf("bad result: %w", httpx.ErrBadRequest)
	// ErrNoSecret and ErrWrongSecret refuse a transcoder's request.
	ErrNoSecret    = fmt.Errorf("missing transcoder secret (send Authorization: Bearer <secret>): %w", httpx.ErrUnauthorized)
	ErrWrongSecret = fmt.Errorf("wrong transcoder secret: %w", httpx.ErrUnauthorized)
	// ErrClosed means the Pool was closed.
	ErrClosed = fmt.Errorf("transcoder pool closed: %w", httpx.ErrUnavailable)
)

// Config configures a Pool.
type Config struct {
	// Secret is what every transcoder must present as a bearer token;
	// required.
	Secret string
	// MaxSegmentBytes caps one buffered segment; default 64 MiB.
	MaxSegmentBytes int64
	// Heartbeat is the ping interval on each session; default 5 s.
	Heartbeat time.Duration
	// PickupTimeout is how long a transcoder has to start reading a job's
	// input before it is treated as lost; default 5 s.
	PickupTimeout time.Duration
	// Redispatch is how many times a job may move to another transcoder;
	// default 2. Negative means never.
	Redispatch int
	Logger     *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Secret == "" {
		return errors.New("dispatch: Secret is required: transcoders authenticate with it")
	}
	if c.MaxSegmentBytes <= 0 {
		c.MaxSegmentBytes = DefaultMaxSegmentBytes
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.PickupTimeout <= 0 {
		c.PickupTimeout = DefaultPickupTimeout
	}
	switch {
	case c.Redispatch == 0:
		c.Redispatch = DefaultRedispatch
	case c.Redispatch < 0:
		c.Redispatch = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Pool is the set of connected transcoders. It implements
// transcode.Transcoder and serves the transcoders' endpoints (Handler). It
// is safe for concurrent use.
type Pool struct {
	cfg    Config
	log    *slog.Logger
	secret [32]byte // SHA-256 of the secret, compared in constant time

	ctx    context.Context // cancelled by Close
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	closed   bool
	ts       map[string]*tconn   // connected transcoders by id
	attempts map[string]*attempt // dispatches in flight by job id
	wg       sync.WaitGroup      // Transcode calls, sessions and input copiers
}

var _ transcode.Transcoder = (*Pool)(nil)

// New builds a Pool.
func New(cfg Config) (*Pool, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Pool{cfg: cfg, log: cfg.Logger, secret: hashSecret(cfg.Secret), ctx: ctx, cancel: cancel,
		ts: map[string]*tconn{}, attempts: map[string]*attempt{}}, nil
}

// Handler serves the transcoders' endpoints: the session, and each job's
// input, result and failure.
func (p *Pool) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+remote.SessionPath, p.handle(p.serveSession))
	mux.Handle("GET "+remote.JobInputPattern, p.handle(p.serveInput))
	mux.Handle("POST "+remote.JobResultPattern, p.handle(p.serveResult))
	mux.Handle("POST "+remote.JobFailurePattern, p.handle(p.serveFailure))
	return mux
}

// begin counts a goroutine unless p is closed; Add happens under the lock
// so it can never race Close's Wait.
func (p *Pool) begin() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// Close ends every session and job in flight and waits for the Pool's
// goroutines. It is idempotent. An input copier blocked in Read of a job
// Input that is not an io.Closer is waited for until that Read returns.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel(ErrClosed)
	p.wg.Wait()
	return nil
}

// Capacity returns the slots of all connected transcoders.
func (p *Pool) Capacity() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, t := range p.ts {
		n += t.capacity
	}
	return n
}

// Free returns the free slots of all connected transcoders.
func (p *Pool) Free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, t := range p.ts {
		n += t.capacity - t.busy
	}
	return n
}
