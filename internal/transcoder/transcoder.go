// Package transcoder is castnet's transcoder role (T): a node that dials
// out to one orchestrator, registers its capacity over the transcoder link
// (castnet/2, T ↔ O) and runs the segments the orchestrator dispatches to it
// on a local transcode.Transcoder (ffmpeg). Because T dials out, it can sit
// behind NAT. See docs/protocol.md.
package transcoder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// Defaults for Config.
const (
	DefaultCapacity   = 1
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// DefaultInputIdle is the longest wait for a job's next input byte.
	// The orchestrator cuts its own broadcasters off sooner
	// (remote.DefaultInputIdle), so this fires only when the orchestrator
	// itself is stuck.
	DefaultInputIdle = 10 * time.Second
)

// Errors returned by the package.
var (
	// ErrSecretRefused means the orchestrator answered 401: the secret is
	// wrong, so retrying cannot help and Run returns.
	ErrSecretRefused = errors.New("transcoder: the orchestrator refused the transcoder secret (401); check -secret")
	// ErrRefused means the orchestrator refused the session for good (400
	// or 403), say for a capacity it does not accept.
	ErrRefused = errors.New("transcoder: the orchestrator refused the session")
	// ErrInvalidConfig means a Config failed validation.
	ErrInvalidConfig = errors.New("transcoder: invalid config")
	// ErrClosed means the node was closed.
	ErrClosed = errors.New("transcoder: closed")
	// ErrRunning means Run was called while another Run is running.
	ErrRunning = errors.New("transcoder: already running")
)

// Config configures a Node.
type Config struct {
	// OrchestratorURL is the orchestrator's base URL, e.g.
	// http://127.0.0.1:9935; required.
	OrchestratorURL string
	// Secret is the orchestrator's transcoder secret; required.
	Secret string
	// Capacity is how many segments the node transcodes at once, 1..64;
	// default 1.
	Capacity int
	// Name labels the node in the orchestrator's logs and API; optional,
	// up to 64 of A-Z a-z 0-9 . _ -.
	Name string
	// Transcoder does the work, usually a *transcode.FFmpeg; required.
	Transcoder transcode.Transcoder
	// Vouch, when set, signs what the node produced from an input
	// (internal/trust); the result goes to the orchestrator with the
	// renditions.
	Vouch func(input remote.SegmentSum, rends []transcode.Rendition) (string, error)
	// HTTP makes the requests; default a client with no timeout. Its
	// Timeout must be 0: the session is one long response.
	HTTP   *http.Client
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between reconnections,
	// which doubles after each failure; defaults 250 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// InputIdle fails a job whose input stops for that long, so a stalled
	// orchestrator does not hold a slot; default DefaultInputIdle.
	InputIdle time.Duration
}

func (c *Config) setDefaults() error {
	if c.Capacity == 0 {
		c.Capacity = DefaultCapacity
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.InputIdle <= 0 {
		c.InputIdle = DefaultInputIdle
	}
	var errs []error
	if u, err := url.Parse(c.OrchestratorURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("orchestrator URL %q: want http://host:port or https://host:port", c.OrchestratorURL))
	}
	if c.Secret == "" {
		errs = append(errs, errors.New("secret is required"))
	}
	if c.Capacity < 1 || c.Capacity > remote.MaxCapacity {
		errs = append(errs, fmt.Errorf("capacity %d: want 1 to %d", c.Capacity, remote.MaxCapacity))
	}
	if err := remote.CheckTranscoderName(c.Name); err != nil {
		errs = append(errs, err)
	}
	if c.Transcoder == nil {
		errs = append(errs, errors.New("a Transcoder is required"))
	}
	if c.HTTP.Timeout != 0 {
		errs = append(errs, errors.New("the HTTP client must have no Timeout: it would cut the session"))
	}
	if c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, fmt.Errorf("backoff %v..%v: want 0 <= min <= max", c.MinBackoff, c.MaxBackoff))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Status is what GET /api/status reports.
type Status struct {
	// Orchestrator is the orchestrator's URL, any password redacted.
	Orchestrator string `json:"orchestrator"`
	Name         string `json:"name,omitempty"`
	Connected    bool   `json:"connected"`
	// Transcoder is the id the orchestrator gave the current session.
	Transcoder string `json:"transcoder,omitempty"`
	Capacity   int    `json:"capacity"`
	Busy       int    `json:"busy"`
	JobsDone   uint64 `json:"jobs_done"`
	JobsFailed uint64 `json:"jobs_failed"`
	// Reconnects counts session attempts after the first.
	Reconnects uint64 `json:"reconnects"`
	// LastError is why the last session ended or failed to start; it is
	// kept after a reconnection, to tell why there was one.
	LastError      string     `json:"last_error"`
	ConnectedSince *time.Time `json:"connected_since,omitempty"`
}

// Node is a transcoder node. Build it with New, run it with Run, and stop
// it with Close (or by ending Run's context).
type Node struct {
	cfg  Config
	log  *slog.Logger
	base string // the orchestrator URL without a trailing slash
	url  string // the orchestrator URL with any password redacted, for logs

	ctx    context.Context // cancelled by Close
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	closed  bool
	running bool
	st      Status
	wg      sync.WaitGroup // Run and the jobs it starts
}

// New validates cfg and builds a Node; it connects nothing until Run.
func New(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.OrchestratorURL) // checked by setDefaults
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Node{cfg: cfg, log: cfg.Logger, base: strings.TrimRight(cfg.OrchestratorURL, "/"), url: u.Redacted(),
		ctx: ctx, cancel: cancel, st: Status{Orchestrator: u.Redacted(), Name: cfg.Name, Capacity: cfg.Capacity}}, nil
}

// Status returns the node's current state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.st
	if s.ConnectedSince != nil {
		t := *s.ConnectedSince
		s.ConnectedSince = &t
	}
	return s
}

// Handler serves GET /api/status.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/status", httpx.JSON(n.log, func() any { return n.Status() }))
	return mux
}

// Close ends the session and the jobs in flight and waits for Run and its
// goroutines to return. It is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel(ErrClosed)
	n.wg.Wait()
	return nil
}

// update changes the status under the lock.
func (n *Node) update(f func(s *Status)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(&n.st)
}
