package publish

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// consentTimeout is how long after its last answer castnet's node gives
// up on a publisher (internal/rtc), and so the most a publisher may take
// to give up on a node that went silent, plus one keepalive interval for
// the check to run.
const consentTimeout = iceDisconnectedTimeout + iceFailedTimeout + iceKeepalive

// publishUntil publishes the small pattern for up to a minute, does
// something to srv two seconds in, and returns Publish's error and how
// long it took from then to return.
func publishUntil(t *testing.T, srv *whipServer, do func()) (error, time.Duration) {
	t.Helper()
	m := prepareSmall(t)
	cfg := smallPattern(srv.url("cam"))
	cfg.Duration = time.Minute
	cfg.Logger = testLogger(t)
	var progress lockedBuffer
	cfg.Progress = &progress
	done := make(chan error, 1)
	go func() {
		_, err := Publish(t.Context(), cfg, m)
		done <- err
	}()
	waitFor(t, func() bool { return strings.Contains(progress.String(), "elapsed 00:02") })
	do()
	at := time.Now()
	select {
	case err := <-done:
		return err, time.Since(at)
	case <-time.After(2 * consentTimeout):
		t.Fatalf("Publish still running %s after the server went away", 2*consentTimeout)
	}
	return nil, 0
}

// checkSessionError asserts that err is a SessionError of kind, whose one
// line says why, and that it came within limit.
func checkSessionError(t *testing.T, err error, took, limit time.Duration, kind error, why string) {
	t.Helper()
	var se *SessionError
	if !errors.As(err, &se) || !errors.Is(err, kind) {
		t.Fatalf("Publish = %v, want a SessionError matching %v", err, kind)
	}
	msg := err.Error()
	if !strings.Contains(msg, why) || !strings.Contains(msg, " of 1m0s: ") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line with %q and the planned 1m0s", msg, why)
	}
	if se.After < time.Second || se.After > 4*time.Second {
		t.Errorf("After = %v, want the 2 s or so the server was there", se.After)
	}
	if took > limit {
		t.Errorf("Publish took %v to give up, want at most %v", took, limit)
	}
	t.Logf("gave up %v after the server went: %v", took.Round(10*time.Millisecond), msg)
}

func TestPublishFailsFastWhenTheServerDies(t *testing.T) {
	srv := newWHIPServer(t)
	err, took := publishUntil(t, srv, srv.kill)
	// ICE reports disconnected after 5 s of silence, checked every 2 s;
	// the refused HTTP connection settles it then.
	checkSessionError(t, err, took, iceDisconnectedTimeout+iceKeepalive+time.Second, ErrConnectionLost,
		"ICE disconnected and the server refuses HTTP connections: it is not running")
}

func TestPublishReportsASessionTheServerEnded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		quietly bool // the close_notify is lost
		limit   time.Duration
		why     string
	}{
		{"at once from its close_notify", false, time.Second, "it closed the connection (DTLS close_notify)"},
		{"by a 404 when the close_notify is lost", true, iceDisconnectedTimeout + iceKeepalive + time.Second,
			"ICE disconnected and the session URL answers 404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWHIPServer(t)
			err, took := publishUntil(t, srv, func() { srv.endSessions(tc.quietly) })
			checkSessionError(t, err, took, tc.limit, ErrEndedByServer, tc.why)
			if srv.deletes.Load()+srv.badDeletes.Load() != 0 {
				t.Errorf("sent a DELETE for a session the server had ended (%v)", srv)
			}
		})
	}
}

func TestPublishGivesUpWithTheServerWhenOnlyMediaStops(t *testing.T) {
	srv := newWHIPServer(t)
	err, took := publishUntil(t, srv, srv.silence)
	// HTTP still answers, so only ICE can tell: failed, at the node's own
	// consent timeout.
	checkSessionError(t, err, took, consentTimeout+time.Second, ErrConnectionLost,
		"no answer to ICE consent checks for 15s (ICE disconnected, then failed)")
	if took < iceDisconnectedTimeout+iceFailedTimeout-time.Second {
		t.Errorf("gave up after %v, before ICE could have failed", took)
	}
	if srv.patches.Load() == 0 || srv.deletes.Load() != 1 {
		t.Errorf("server saw %d PATCHes and %d DELETEs; want the disconnected probe and the closing DELETE", srv.patches.Load(), srv.deletes.Load())
	}
}

func TestPublishThatEndsJustAsTheServerDiesIsNotClean(t *testing.T) {
	m := prepareSmall(t)
	srv := newWHIPServer(t)
	cfg := smallPattern(srv.url("cam"))
	cfg.Duration = 2 * time.Second
	cfg.Progress = &lockedBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		// Too late for ICE to notice before the pattern ends.
		time.Sleep(1500 * time.Millisecond)
		srv.kill()
	}()
	_, err := Publish(ctx, cfg, m)
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "refused the closing DELETE") {
		t.Fatalf("Publish = %v, want ErrConnectionLost from the refused DELETE", err)
	}
}

func TestSessionErrorIsOneLine(t *testing.T) {
	for _, tc := range []struct {
		err  SessionError
		want string
	}{
		{SessionError{ErrConnectionLost, 12345 * time.Millisecond, 31 * time.Second, "ICE disconnected, then failed"},
			"publish: connection lost after 12.3s of 31s: ICE disconnected, then failed"},
		{SessionError{ErrEndedByServer, 6 * time.Second, 0, "the session URL answers 404 Not Found"},
			"publish: the server ended the session after 6s: the session URL answers 404 Not Found"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestEndOfCandidatesNamesTheOffersICESession(t *testing.T) {
	offer := "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\n" +
		"a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\na=mid:1\r\n"
	want := "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\na=end-of-candidates\r\n"
	if got := endOfCandidates(offer); got != want {
		t.Errorf("endOfCandidates =\n%q\nwant\n%q", got, want)
	}
}
