package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"
)

// probeTimeout bounds the HTTP question asked when ICE reports
// disconnected; an answer slower than this settles nothing.
const probeTimeout = 2 * time.Second

// SessionError reports a publish that connected and then ended before its
// time. It matches Err, ErrConnectionLost or ErrEndedByServer, with
// errors.Is. Its message is one line, e.g. "publish: connection lost
// after 12.3s of 31s: ICE disconnected and the server refuses HTTP
// connections: it is not running".
type SessionError struct {
	Err   error         // ErrConnectionLost or ErrEndedByServer
	After time.Duration // from connecting until the server was last heard from
	Of    time.Duration // what was to be published; 0 when open-ended
	Why   string        // what showed it
}

// Error says what happened, when, and how castnet knows.
func (e *SessionError) Error() string {
	msg := fmt.Sprintf("%v after %s", e.Err, e.After.Round(100*time.Millisecond))
	if e.Of > 0 {
		msg += " of " + e.Of.Round(100*time.Millisecond).String()
	}
	return msg + ": " + e.Why
}

// Unwrap makes errors.Is(err, e.Err) hold.
func (e *SessionError) Unwrap() error { return e.Err }

// watch ends the session early, through conclude, when the connection
// fails or a probe finds the server gone. It returns when ctx ends or it
// has concluded.
func (s *session) watch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.peer.lost:
			s.concludeLost()
			return
		case <-s.peer.disconnected:
			if s.probe(ctx) {
				return
			}
		}
	}
}

// probe asks the server over HTTP, when ICE reports disconnected, whether
// the session still exists: a trickle PATCH that changes nothing (see
// endOfCandidates). A refused connection (nothing listens: the node is
// not running) or a 404 (the node ended the session) settles it at once,
// 10 s before ICE would fail. Any other answer, or none in time, leaves
// it to ICE, which may yet recover. It reports whether it concluded.
func (s *session) probe(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	frag := endOfCandidates(s.peer.pc.LocalDescription().SDP)
	code, err := patchSession(pctx, s.client, s.whip.location, s.cfg.Token, frag)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		s.conclude(ErrConnectionLost, "ICE disconnected and the server refuses HTTP connections: it is not running")
	case err == nil && gone(code):
		s.conclude(ErrEndedByServer, fmt.Sprintf("ICE disconnected and the session URL answers %d %s", code, http.StatusText(code)))
	default:
		s.log.Info("ICE disconnected; the server still answers, waiting on ICE", "status", code, "err", err)
		return false
	}
	return true
}

// gone reports whether a status says the session resource no longer exists.
func gone(code int) bool { return code == http.StatusNotFound || code == http.StatusGone }

// concludeLost explains a PeerConnection that failed or closed. Only the
// session closes it, and not before the watch is over, so a closed one
// was closed by the server's DTLS close_notify (RFC 5246 section 7.2.1):
// a server that ends a session sends one, and one that dies or is cut
// off cannot.
func (s *session) concludeLost() {
	ice := s.peer.pc.ICEConnectionState()
	switch {
	case s.peer.pc.ConnectionState() == webrtc.PeerConnectionStateClosed:
		s.conclude(ErrEndedByServer, "it closed the connection (DTLS close_notify)")
	case ice == webrtc.ICEConnectionStateFailed && s.peer.wasDown.Load():
		s.conclude(ErrConnectionLost, fmt.Sprintf("no answer to ICE consent checks for %s (ICE disconnected, then failed)",
			iceDisconnectedTimeout+iceFailedTimeout))
	default:
		s.conclude(ErrConnectionLost, fmt.Sprintf("the connection went %s (ICE %s)", s.peer.pc.ConnectionState(), ice))
	}
}

// conclude records why the session ended early and stops the pacer; the
// first verdict stands.
func (s *session) conclude(kind error, why string) {
	s.overOnce.Do(func() {
		s.verdict = s.sessionError(kind, why)
		s.log.Info("session over", "err", s.verdict)
		close(s.over)
	})
}

func (s *session) sessionError(kind error, why string) *SessionError {
	return &SessionError{Err: kind, After: s.heardFor(), Of: s.planned(), Why: why}
}

// heardFor is how long into the session the server was last heard from
// (its RTCP), or until now if it never was.
func (s *session) heardFor() time.Duration {
	last := s.peer.count.lastHeard()
	if last.Before(s.start) {
		last = time.Now()
	}
	return last.Sub(s.start)
}

// planned is how long the publish was to last, 0 for a test pattern
// without a duration.
func (s *session) planned() time.Duration {
	if s.media.loop {
		return s.cfg.Duration
	}
	d := s.media.duration()
	if s.cfg.Duration > 0 {
		d = min(d, s.cfg.Duration)
	}
	return d
}

// afterDelete lets the closing DELETE correct a session that seemed to end
// well: a 404 says the server had already ended it, a refused connection
// that the server is gone, and either way the last of the media may not
// have arrived. Other failures are only logged: a DELETE that times out,
// or a server that does not implement it, proves nothing.
func (s *session) afterDelete(err error, code int, derr error) error {
	switch {
	case err != nil || s.start.IsZero():
		s.log.Debug("WHIP DELETE", "status", code, "err", derr)
		return err
	case derr == nil && gone(code):
		return s.sessionError(ErrEndedByServer, fmt.Sprintf("the closing DELETE answered %d %s", code, http.StatusText(code)))
	case errors.Is(derr, syscall.ECONNREFUSED):
		return s.sessionError(ErrConnectionLost, "the server refused the closing DELETE: it is not running")
	case derr != nil:
		s.log.Warn("WHIP DELETE failed", "err", derr)
	case code != http.StatusOK && code != http.StatusNoContent:
		s.log.Warn("WHIP DELETE answered", "status", code)
	}
	return nil
}
