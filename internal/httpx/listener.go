package httpx

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// capped is a listener that holds at most max connections open at once:
// Accept waits for one to close, so the connections beyond the cap wait
// in the kernel's listen queue, costing this process nothing (the shape
// of golang.org/x/net/netutil.LimitListener).
type capped struct {
	net.Listener
	log  *slog.Logger
	sem  chan struct{}
	quit chan struct{} // closed by Close: a waiting Accept returns
	once sync.Once
	full atomic.Bool // the cap was reached, and not yet logged as left
}

func limitListener(ln net.Listener, max int, log *slog.Logger) net.Listener {
	return &capped{Listener: ln, log: log, sem: make(chan struct{}, max), quit: make(chan struct{})}
}

// Accept waits for a free place, then accepts.
func (l *capped) Accept() (net.Conn, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &cappedConn{Conn: c, release: l.release}, nil
}

// acquire takes a place, logging once when the cap is reached.
func (l *capped) acquire() error {
	select {
	case l.sem <- struct{}{}:
		return nil
	default:
	}
	if l.full.CompareAndSwap(false, true) {
		l.log.Warn("connection limit reached: new connections wait until one closes", "max_conns", cap(l.sem))
	}
	select {
	case l.sem <- struct{}{}:
		return nil
	case <-l.quit:
		return net.ErrClosed
	}
}

func (l *capped) release() {
	<-l.sem
	if len(l.sem) < cap(l.sem)*3/4 && l.full.CompareAndSwap(true, false) {
		l.log.Info("connections back under the limit", "open", len(l.sem), "max_conns", cap(l.sem))
	}
}

// Close stops accepting, and releases an Accept waiting for a place.
func (l *capped) Close() error {
	l.once.Do(func() { close(l.quit) })
	return l.Listener.Close()
}

// cappedConn gives its place back once, on its first Close.
type cappedConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadFrom keeps the connection's own ReadFrom (sendfile for a TCP
// connection), which net/http uses to serve files.
func (c *cappedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
