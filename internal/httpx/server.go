package httpx

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is an http.Server with limits suited to castnet: short header
// reads so idle clients cannot hold connections, per-Read deadlines on
// request bodies (see Body) instead of a ReadTimeout, no write timeout
// because media responses may legitimately stream for a long time, and a
// cap on open connections.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error

	closeOnce sync.Once
	closeErr  error
}

// Defaults for Limits.
const (
	// DefaultMaxConns is enough for a few thousand viewers' keep-alive
	// connections; each costs a goroutine and about 10 KiB.
	DefaultMaxConns          = 4096
	DefaultReadHeaderTimeout = 10 * time.Second
)

// Limits bound what clients may hold of a Server; zero fields take the
// defaults.
type Limits struct {
	// MaxConns caps open connections: beyond it, new ones wait in the
	// listen queue until one closes. Negative: no cap.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// BodyIdle and BodyTimeout are the default deadlines of a request
	// body (DefaultBodyIdle, DefaultBodyTimeout): the longest wait for its
	// next byte and for its end. Routes set their own with LimitBody.
	BodyIdle, BodyTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.BodyIdle <= 0 {
		l.BodyIdle = DefaultBodyIdle
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	return l
}

// Listen binds addr and starts serving h in the background, with the
// default Limits.
func Listen(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	return ListenLimited(addr, h, log, Limits{})
}

// ListenLimited is Listen with lim.
func ListenLimited(addr string, h http.Handler, log *slog.Logger, lim Limits) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return ServeLimited(ln, h, log, lim), nil
}

// Serve starts serving h on ln in the background, with the default
// Limits. A node that must know its own URL before it can build its
// handlers (castnet dev talks to its own orchestrator over HTTP) binds
// first, then serves.
func Serve(ln net.Listener, h http.Handler, log *slog.Logger) *Server {
	return ServeLimited(ln, h, log, Limits{})
}

// ServeLimited is Serve with lim.
func ServeLimited(ln net.Listener, h http.Handler, log *slog.Logger, lim Limits) *Server {
	lim = lim.withDefaults()
	if lim.MaxConns > 0 {
		ln = limitListener(ln, lim.MaxConns, log)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           limitBodies(h, lim.BodyIdle, lim.BodyTimeout),
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, waits up to 5 s for requests in flight, then closes
// what remains. It returns once the serving goroutine has exited; it is
// idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
