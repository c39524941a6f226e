// Package whep is castnet's WebRTC-HTTP Egress Protocol endpoint
// (draft-ietf-wish-whep): a viewer POSTs a recvonly offer and is sent the
// publisher's own RTP, forwarded by internal/relay as it arrives. The
// HTTP session resource (PATCH for trickle and ICE restart, DELETE,
// ETags, CORS) is internal/wish's, shared with WHIP.
package whep

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/names"
	"github.com/castnet/castnet/internal/relay"
	"github.com/castnet/castnet/internal/rtc"
	"github.com/castnet/castnet/internal/wish"
)

// Request errors.
var (
	ErrBadStreamName = fmt.Errorf("stream names are 1-64 letters, digits, '-' or '_': %w", httpx.ErrBadRequest)
	ErrBadRendition  = fmt.Errorf("rendition names are 1-32 lowercase letters, digits, '-' or '_': %w", httpx.ErrBadRequest)
	// ErrNotLive answers a viewer of a stream nobody publishes now, 409
	// with Retry-After: a player may try again.
	ErrNotLive   = fmt.Errorf("stream is not live: %w", httpx.ErrConflict)
	ErrNoSession = fmt.Errorf("no such session: %w", httpx.ErrNotFound)
	ErrNotPOST   = fmt.Errorf("play with POST: %w", httpx.ErrMethodNotAllowed)
	// ErrFull: the node or the stream has as many viewers as it takes.
	ErrFull = fmt.Errorf("viewer limit reached: %w", httpx.ErrUnavailable)
	// ErrStreamEnded ends a viewer's session when the stream ends.
	ErrStreamEnded = fmt.Errorf("the stream ended")
)

// Defaults for Config fields left zero.
const (
	DefaultGatherTimeout  = 5 * time.Second
	DefaultConnectTimeout = 15 * time.Second // as WHIP's: pion's ICE agent gives up then
	// DefaultMaxViewers bounds a node's WHEP viewers: each costs about 0.2%
	// of a core at 2.5 Mb/s (BENCHMARKS.md), and its share of the uplink.
	DefaultMaxViewers = 1000
	// DefaultMaxStreamViewers bounds one stream's.
	DefaultMaxStreamViewers = 500
	// notLiveRetry is the Retry-After of a 409: about a publisher's
	// connect time.
	notLiveRetry = 2 * time.Second
)

// Sources finds the relay of a live stream's rendition (the
// broadcaster): rendition "" is the publisher's own RTP. live is false
// when the stream is not live; err refuses a rendition it lacks (a 404
// class) or cannot feed.
type Sources interface {
	Relay(stream, rendition string) (r *relay.Relay, live bool, err error)
}

// Config configures a WHEP server.
type Config struct {
	RTC     *rtc.RTC
	Sources Sources
	// MaxViewers and MaxStreamViewers bound the viewers of the node and of
	// one stream (0: the defaults; negative: no limit). Beyond them a POST
	// gets 503 with Retry-After.
	MaxViewers, MaxStreamViewers int
	GatherTimeout                time.Duration
	// ConnectTimeout ends a session whose viewer has not completed ICE and
	// DTLS this long after its offer.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// Server is the WHEP endpoint and the registry of its sessions.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	sessions wish.Table[*session]
	// byStream counts each stream's sessions, under the table's lock.
	byStream map[string]int
}

// New builds a WHEP server.
func New(cfg Config) (*Server, error) {
	if cfg.RTC == nil || cfg.Sources == nil {
		return nil, fmt.Errorf("whep: RTC and Sources are required")
	}
	cfg = withDefaults(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, byStream: map[string]int{}}, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = DefaultGatherTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.MaxViewers == 0 {
		cfg.MaxViewers = DefaultMaxViewers
	}
	if cfg.MaxStreamViewers == 0 {
		cfg.MaxStreamViewers = DefaultMaxStreamViewers
	}
	return cfg
}

// Close ends every session and waits for them; idempotent.
func (s *Server) Close() error {
	s.cancel()
	s.sessions.Shut(func(ss *session) { ss.close(nil) })
	return nil
}

// Viewers is the number of sessions, connected or not.
func (s *Server) Viewers() int { return s.sessions.Len() }

// reserve counts a new session against the limits.
func (s *Server) reserve(ss *session) error {
	return s.sessions.Reserve(ss.id, ss, func(n int) error {
		switch on := s.byStream[ss.stream]; {
		case s.cfg.MaxViewers > 0 && n >= s.cfg.MaxViewers:
			return httpx.WithRetryAfter(fmt.Errorf("%w: the node has %d viewers", ErrFull, n), 10*time.Second)
		case s.cfg.MaxStreamViewers > 0 && on >= s.cfg.MaxStreamViewers:
			return httpx.WithRetryAfter(fmt.Errorf("%w: %s has %d viewers", ErrFull, ss.stream, on), 10*time.Second)
		}
		s.byStream[ss.stream]++
		return nil
	})
}

// release forgets a session once it has fully closed.
func (s *Server) release(ss *session) {
	s.sessions.Release(ss.id, func() {
		if s.byStream[ss.stream]--; s.byStream[ss.stream] <= 0 {
			delete(s.byStream, ss.stream)
		}
	})
}

func (s *Server) lookup(stream, id string) (*session, error) {
	ss, ok := s.sessions.Get(id)
	if !ok || ss.stream != stream {
		return nil, ErrNoSession
	}
	return ss, nil
}

// validStream reports whether name may be a stream name (names.Stream).
func validStream(name string) bool { return names.Stream(name) }
