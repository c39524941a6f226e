package transcoder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/transcode/remote"
)

// errDeadLink ends a session on which nothing arrived for three heartbeats.
var errDeadLink = errors.New("no line from the orchestrator for three heartbeats: link is dead")

// Run connects to the orchestrator and serves it until ctx ends or Close is
// called (then it returns nil). It reconnects after any link failure, with
// exponential backoff; it returns an error only when retrying cannot help:
// the secret was refused (ErrSecretRefused) or the session itself was
// refused (ErrRefused).
func (n *Node) Run(ctx context.Context) error {
	if err := n.begin(); err != nil {
		return err
	}
	defer n.end()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(n.ctx, func() { cancel(ErrClosed) })
	defer stop()
	backoff := n.cfg.MinBackoff
	for first := true; ; first = false {
		if !first {
			n.update(func(s *Status) { s.Reconnects++ })
		}
		connected, err := n.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		n.update(func(s *Status) { s.LastError = err.Error() })
		if errors.Is(err, ErrSecretRefused) || errors.Is(err, ErrRefused) {
			n.log.Error("orchestrator refused this transcoder; giving up", "err", err)
			return err
		}
		if connected {
			backoff = n.cfg.MinBackoff
		}
		wait := jitter(backoff)
		n.log.Warn("orchestrator link down; reconnecting", "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, n.cfg.MaxBackoff)
	}
}

func (n *Node) begin() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case n.running:
		return ErrRunning
	}
	n.running = true
	n.wg.Add(1)
	return nil
}

func (n *Node) end() {
	n.mu.Lock()
	n.running = false
	n.mu.Unlock()
	n.wg.Done()
}

// jitter spreads reconnections of many transcoders over [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// session runs one session: register, then read events until the link
// fails. connected reports whether the orchestrator said hello.
func (n *Node) session(ctx context.Context) (connected bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Reading is unblocked by cancelling the request: the dead-link timer
	// does that when three heartbeats pass without a line. It runs from the
	// start, so an orchestrator that never answers is caught too.
	dead := time.AfterFunc(3*remote.DefaultHeartbeat, func() { cancel(errDeadLink) })
	defer dead.Stop()
	body, err := n.open(sctx)
	if err != nil {
		if sctx.Err() != nil {
			err = context.Cause(sctx)
		}
		return false, err
	}
	defer body.Close()
	events := remote.NewEventReader(body)
	hello, err := events.Next()
	if err == nil && hello.Type != remote.EventHello {
		err = fmt.Errorf("%w: first line is %q, not hello", remote.ErrBadEvent, hello.Type)
	}
	if err != nil {
		return false, fmt.Errorf("waiting for hello: %w", readErr(sctx, err))
	}
	n.connected(hello)
	jobs := newJobSet(n)
	defer func() {
		jobs.stop(fmt.Errorf("link lost: %w", err))
		n.disconnected()
	}()
	for {
		dead.Reset(3 * hello.Heartbeat)
		ev, rerr := events.Next()
		if rerr != nil {
			return true, fmt.Errorf("session: %w", readErr(sctx, rerr))
		}
		switch ev.Type {
		case remote.EventJob:
			jobs.start(sctx, ev)
		case remote.EventCancel:
			jobs.cancel(ev.Job)
		case remote.EventHello:
			return true, fmt.Errorf("%w: a second hello", remote.ErrBadEvent)
		case remote.EventPing:
		default:
			n.log.Debug("ignoring unknown event", "type", ev.Type) // a newer orchestrator's
		}
	}
}

// open sends the session request and checks the answer is a session.
func (n *Node) open(ctx context.Context) (io.ReadCloser, error) {
	q := remote.SessionParams{Capacity: n.cfg.Capacity, Name: n.cfg.Name}.Encode()
	req, err := n.request(ctx, http.MethodGet, remote.SessionPath+"?"+q, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", remote.SessionContentType)
	resp, err := n.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		serr := statusError(resp)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return nil, fmt.Errorf("%w: %s", ErrSecretRefused, serr.Reason)
		case http.StatusBadRequest, http.StatusForbidden:
			return nil, fmt.Errorf("%w: %w", ErrRefused, serr)
		}
		return nil, serr
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != remote.SessionContentType {
		resp.Body.Close()
		return nil, fmt.Errorf("%s answered %q, not a transcoder session (is the URL an orchestrator's?)",
			n.base, resp.Header.Get("Content-Type"))
	}
	return resp.Body, nil
}

// readErr prefers the reason the session was cancelled (a dead link, say)
// over the read error that cancellation caused.
func readErr(sctx context.Context, err error) error {
	if sctx.Err() != nil {
		return context.Cause(sctx)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("the orchestrator ended the session")
	}
	return err
}

func (n *Node) connected(hello remote.Event) {
	now := time.Now()
	n.update(func(s *Status) {
		s.Connected, s.Transcoder, s.ConnectedSince = true, hello.Transcoder, &now
	})
	n.log.Info("connected to orchestrator", "orchestrator", n.url, "transcoder", hello.Transcoder,
		"capacity", n.cfg.Capacity, "heartbeat", hello.Heartbeat)
}

func (n *Node) disconnected() {
	n.update(func(s *Status) { s.Connected, s.Transcoder, s.ConnectedSince = false, "", nil })
}

// request builds a request to the orchestrator with the secret.
func (n *Node) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.cfg.Secret)
	return req, nil
}

// statusError reads a refusal's reason.
func statusError(resp *http.Response) *remote.StatusError {
	reason, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return &remote.StatusError{Code: resp.StatusCode, Reason: strings.TrimSpace(string(reason)),
		RetryAfter: resp.Header.Get("Retry-After")}
}
