package whip

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/httpx"
)

// The admission tests (issue 11, attack 1): an Admitter only decides, and
// its decision takes effect when whip commits it, once the stream name is
// the session's. A POST refused before that changes nothing.

// payer is what the fake admitter's commits bill a session to.
type payer string

func (p payer) String() string { return string(p) }

// fakeAdmitter admits every POST; each commit is recorded and bills the
// session to the request's Authorization header, or fails with commitErr.
type fakeAdmitter struct {
	mu        sync.Mutex
	admits    int
	commits   []string // the sessions committed, in order
	commitErr error
}

func (a *fakeAdmitter) Admit(r *http.Request, stream string) (Commit, error) {
	a.mu.Lock()
	a.admits++
	a.mu.Unlock()
	who := payer(stream + " by " + r.Header.Get("Authorization"))
	return func(ctx context.Context, session string) (fmt.Stringer, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.commitErr != nil {
			return nil, a.commitErr
		}
		a.commits = append(a.commits, session)
		return who, nil
	}, nil
}

// Owner is the request's Test-Owner header: tests name the publisher.
func (a *fakeAdmitter) Owner(r *http.Request, _ string) string { return r.Header.Get("Test-Owner") }

func (a *fakeAdmitter) committed() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.commits...)
}

// admitHarness serves WHIP with a fake admitter and records each Publish.
func admitHarness(t *testing.T, cfg Config) (*harness, *fakeAdmitter, chan Publish) {
	t.Helper()
	adm := &fakeAdmitter{}
	pubs := make(chan Publish, 16)
	cfg.Admitter = adm
	cfg.Starter = starterFunc(func(ctx context.Context, p Publish) (Sink, error) {
		pubs <- p
		return &fakeSink{closed: make(chan error, 1)}, nil
	})
	return newHarness(t, cfg), adm, pubs
}

func TestRefusedPostCommitsNothing(t *testing.T) {
	h, adm, pubs := admitHarness(t, Config{MaxStreams: 2})
	good := offer(t, webrtc.MimeTypeH264, 1, 1)
	victim := map[string]string{"Authorization": "Bearer victim"}
	if resp := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", good, victim); resp.StatusCode != http.StatusCreated {
		t.Fatalf("victim: %d %s", resp.StatusCode, body(t, resp))
	}
	live := <-pubs
	if live.Payer == nil || live.Payer.String() != "cam by Bearer victim" {
		t.Fatalf("the session's Publish carries payer %v, want the victim's", live.Payer)
	}
	if got := adm.committed(); len(got) != 1 || got[0] != live.Session {
		t.Fatalf("commits %v, want the victim's session %s", got, live.Session)
	}
	if resp := do(t, "POST", h.http.URL+"/whip/other", "application/sdp", good, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("second stream: %d %s", resp.StatusCode, body(t, resp))
	}
	<-pubs
	attacker := map[string]string{"Authorization": "Bearer attacker"}
	for _, c := range []struct {
		name, path, sdp string
		status          int
	}{
		{"the stream is live", "/whip/cam", good, http.StatusConflict},
		{"the offer is unparsable", "/whip/cam", "hello", http.StatusBadRequest},
		{"the offer has no usable codec", "/whip/cam", offer(t, webrtc.MimeTypeVP8, 1, 1), http.StatusUnprocessableEntity},
		{"the node is full", "/whip/third", good, http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := do(t, "POST", h.http.URL+c.path, "application/sdp", c.sdp, attacker)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body(t, resp), c.status)
			}
			if got := adm.committed(); len(got) != 2 {
				t.Errorf("a refused POST was committed: commits %v", got)
			}
		})
	}
	select {
	case p := <-pubs:
		t.Errorf("a refused POST opened a stream: %+v", p)
	default:
	}
	if h.srv.Live() != 2 {
		t.Errorf("%d sessions live, want the two admitted", h.srv.Live())
	}
}

func TestRefusedCommitFreesTheName(t *testing.T) {
	h, adm, pubs := admitHarness(t, Config{})
	adm.commitErr = fmt.Errorf("permit replayed: %w", httpx.ErrForbidden)
	good := offer(t, webrtc.MimeTypeH264, 1, 1)
	resp := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", good, nil)
	if got := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(got, "permit replayed") {
		t.Fatalf("status %d %q, want 403 with the commit's reason", resp.StatusCode, got)
	}
	select {
	case p := <-pubs:
		t.Fatalf("a refused commit opened a stream: %+v", p)
	default:
	}
	if h.srv.Live() != 0 {
		t.Fatalf("%d sessions live after a refused commit", h.srv.Live())
	}
	adm.mu.Lock()
	adm.commitErr = nil
	adm.mu.Unlock()
	if resp := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", good, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after a refused commit the name is not free: %d %s", resp.StatusCode, body(t, resp))
	}
	<-pubs
}

// TestEndNamesTheSession: ending a session (its publisher's balance ran
// out) never ends a later session of the same name.
func TestEndNamesTheSession(t *testing.T) {
	h, _, pubs := admitHarness(t, Config{})
	good := offer(t, webrtc.MimeTypeH264, 1, 1)
	post := func() Publish {
		t.Helper()
		if resp := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", good, nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %d %s", resp.StatusCode, body(t, resp))
		}
		return <-pubs
	}
	first := post()
	reason := errors.New("publisher cannot pay")
	if !h.srv.End("cam", first.Session, reason) {
		t.Fatal("End did not find the live session")
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.Live() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ended session is still live")
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := post()
	if h.srv.End("cam", first.Session, reason) || h.srv.End("other", second.Session, reason) {
		t.Error("End ended a session it does not name")
	}
	if h.srv.Live() != 1 {
		t.Errorf("%d sessions live, want the second", h.srv.Live())
	}
}

// TestSameOwnerTakesOverADeadSession: a publisher that crashed and comes
// back (same owner) takes over its own session once that has received
// nothing for TakeoverIdle, without waiting out ICE consent; anyone else,
// an anonymous POST, or a session still receiving media gets 409.
func TestSameOwnerTakesOverADeadSession(t *testing.T) {
	h, _, pubs := admitHarness(t, Config{})
	good := offer(t, webrtc.MimeTypeH264, 1, 1)
	alice := map[string]string{"Test-Owner": "alice"}
	if resp := do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", good, alice); resp.StatusCode != http.StatusCreated {
		t.Fatalf("first session: %d %s", resp.StatusCode, body(t, resp))
	}
	first := <-pubs
	post := func(hdr map[string]string) int {
		return do(t, "POST", h.http.URL+"/whip/cam", "application/sdp", good, hdr).StatusCode
	}
	if got := post(alice); got != http.StatusConflict {
		t.Errorf("same owner while the session is fresh: %d, want 409", got)
	}
	time.Sleep(TakeoverIdle)
	old, _ := h.srv.sessions.Get(first.Session)
	old.stats.lastPacket.Store(time.Now().UnixNano()) // media arrives
	if got := post(alice); got != http.StatusConflict {
		t.Errorf("same owner while media arrives: %d, want 409", got)
	}
	old.stats.lastPacket.Store(time.Now().Add(-TakeoverIdle).UnixNano()) // and stops
	if got := post(map[string]string{"Test-Owner": "mallory"}); got != http.StatusConflict {
		t.Errorf("another owner: %d, want 409", got)
	}
	if got := post(nil); got != http.StatusConflict {
		t.Errorf("anonymous: %d, want 409", got)
	}
	if got := post(alice); got != http.StatusCreated {
		t.Fatalf("same owner after the session went silent: %d, want 201", got)
	}
	second := <-pubs
	if second.Session == first.Session {
		t.Fatal("the takeover reused the session id")
	}
	select {
	case <-old.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the session taken over did not end")
	}
	if !errors.Is(old.closeErr, ErrTakenOver) {
		t.Errorf("the old session ended with %v, want ErrTakenOver", old.closeErr)
	}
	if h.srv.Live() != 1 {
		t.Errorf("%d sessions live, want the new one", h.srv.Live())
	}
}
