package trust

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/clock"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
)

// The attack tests of issue 11, attack 1: WHIP calls Admit before it
// reserves the stream name, and a POST to a live stream is then refused
// with 409. Admit must change nothing a live session depends on; only the
// commit, which whip calls once the name is the new session's, spends a
// permit, and what a session pays with travels with its segments.

// billedTo is job as the session of payer sends it.
func billedTo(job transcode.Job, payer *permitted) transcode.Job {
	job.Payer = payer
	return job
}

// endings records the sessions a Broadcaster ends for their bills.
type endings struct {
	mu   sync.Mutex
	list []string // "stream/session"
}

func (e *endings) end(stream, session string, _ error) {
	e.mu.Lock()
	e.list = append(e.list, stream+"/"+session)
	e.mu.Unlock()
}

func (e *endings) ended() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// victimFixture is a live session "cam/victim" under a funded permit, and
// an attacker whose permit is funded with 1 wei.
type victimFixture struct {
	*admitFixture
	b        *Broadcaster
	ends     *endings
	victim   *permitted
	attacker sign.Key
}

func newVictimFixture(t *testing.T, edit func(*BroadcasterConfig)) *victimFixture {
	t.Helper()
	fx := &victimFixture{admitFixture: newAdmitFixture(t), ends: &endings{}, attacker: vfKey(t)}
	fx.acct.fund(fx.attacker.Address, 1)
	fx.b = fx.broadcaster(func(c *BroadcasterConfig) {
		c.End = fx.ends.end
		if edit != nil {
			edit(c)
		}
	})
	fx.victim = admitted(t, fx.b, fx.bearer(t, fx.funded, utPermit(fx.bKey.Address, "cam", 1, 5)), "cam", "victim")
	return fx
}

// refused is a POST for stream that Admit passes and whip then refuses
// (409: the stream is live), so its commit is never called.
func (fx *victimFixture) refused(t *testing.T, authorization string) {
	t.Helper()
	commit, err := fx.b.Admit(utWHIP(authorization), "cam")
	if err != nil || commit == nil {
		t.Fatalf("Admit: %v", err)
	}
}

// segment runs a segment of the session behind payer through the sealer's
// record and bill, as its answer does, and returns the permit its signed
// record links.
func (fx *victimFixture) segment(t *testing.T, payer fmt.Stringer, seq uint64) common.Hash {
	t.Helper()
	s := fx.b.ForNode("http://orchestrator.invalid").(*sealer)
	job := transcode.Job{Stream: "cam", Seq: seq, Profiles: vfProfiles, Payer: payer}
	rec, err := s.record(job, utSum([]byte(fmt.Sprint("segment ", seq))))
	if err != nil {
		t.Fatal(err)
	}
	s.settle(context.Background(), job, vfKey(t).Address, big.NewInt(3), 1000)
	return mustOpen[sign.Segment](t, fx.d, rec).Permit
}

// wantVictimBilled: the victim's segment links its permit, its publisher
// was billed, the attacker was not, and no session was ended.
func (fx *victimFixture) wantVictimBilled(t *testing.T, seq uint64) {
	t.Helper()
	if got := fx.segment(t, fx.victim, seq); got != fx.victim.digest {
		t.Errorf("the victim's segment %d links permit %s, want the victim's %s", seq, got.Hex(), fx.victim.digest.Hex())
	}
	for _, bl := range fx.acct.bills() {
		if bl.publisher != fx.funded.Address {
			t.Errorf("bill %s of %s wei to %s, not the victim", bl.key, bl.amount, bl.publisher.Hex())
		}
	}
	if bal := fx.acct.balance(fx.funded.Address); bal.Cmp(big.NewInt(1_000_000)) >= 0 {
		t.Errorf("the victim was not billed: balance %s", bal)
	}
	if bal := fx.acct.balance(fx.attacker.Address); bal.Int64() != 1 {
		t.Errorf("the attacker's balance is %s, want its 1 wei", bal)
	}
	if e := fx.ends.ended(); len(e) != 0 {
		t.Errorf("sessions ended: %v", e)
	}
}

// TestRefusedAnonymousPostLeavesTheLiveSession (a): an anonymous POST to a
// live permit-funded stream, refused with 409, leaves its segments signed
// for and billed to the permit, and its custody log's permit line.
func TestRefusedAnonymousPostLeavesTheLiveSession(t *testing.T) {
	fx := newVictimFixture(t, nil)
	fx.refused(t, "")
	fx.wantVictimBilled(t, 3)
	dir := t.TempDir()
	if err := fx.b.Record(Published{Dir: dir, Stream: "cam", Seq: 3, Source: []byte("src"), Why: "test", Payer: fx.victim}); err != nil {
		t.Fatal(err)
	}
	if log, err := os.ReadFile(filepath.Join(dir, CustodyFile)); err != nil || !strings.Contains(string(log), `"kind":"permit"`) ||
		!strings.Contains(string(log), strings.ToLower(fx.funded.Address.Hex())) {
		t.Errorf("the custody log lacks the victim's permit line (%v):\n%s", err, log)
	}
}

// TestRefusedPermitPostLeavesTheLiveSession (b, c): with permits
// required, a POST carrying another funded permit, refused with 409,
// neither bills the victim's segments to it nor ends the victim's session
// when its balance is tiny; and it spends no nonce, so the same permit is
// admitted once the name is free.
func TestRefusedPermitPostLeavesTheLiveSession(t *testing.T) {
	fx := newVictimFixture(t, func(c *BroadcasterConfig) { c.RequirePermit = true })
	tok := fx.bearer(t, fx.attacker, utPermit(fx.bKey.Address, "cam", 9, 5))
	fx.refused(t, tok)
	_, err := fx.b.Admit(utWHIP(""), "cam")
	wantStatus(t, err, http.StatusUnauthorized, "wallet-signed")
	fx.wantVictimBilled(t, 3)
	if fx.acct.spent(fx.attacker.Address, 9) {
		t.Fatal("a POST refused before its commit spent its permit's nonce")
	}
	if p := admitted(t, fx.b, tok, "cam", "later"); p == nil || p.publisher != fx.attacker.Address || p.session != "later" {
		t.Errorf("the unspent permit, committed later: %+v", p)
	}
	if !fx.acct.spent(fx.attacker.Address, 9) {
		t.Error("the commit did not spend the nonce")
	}
}

// TestEarlierSessionsSegmentsBillTheirPermit (d): segments still in flight
// from a session that ended are billed to its permit, not to the next
// session admitted under the name; and a bill the next session cannot pay
// ends that session only.
func TestEarlierSessionsSegmentsBillTheirPermit(t *testing.T) {
	fx := newVictimFixture(t, nil)
	next := admitted(t, fx.b, fx.bearer(t, fx.attacker, utPermit(fx.bKey.Address, "cam", 2, 5)), "cam", "next")
	fx.wantVictimBilled(t, 7)
	if bills := fx.acct.bills(); len(bills) != 1 || bills[0].key != "cam/1/7" {
		t.Errorf("bills %+v, want one under the victim's nonce: cam/1/7", bills)
	}
	if got := fx.segment(t, next, 0); got != next.digest {
		t.Errorf("the next session's segment links %s, want its own permit", got.Hex())
	}
	if e := fx.ends.ended(); len(e) != 1 || e[0] != "cam/next" {
		t.Errorf("ended %v, want only the session that cannot pay: cam/next", e)
	}
}

// TestPermitSessionEndsAtExpiryWithoutPaidSegments: a permit's session
// ends when the permit expires even when no segment is ever settled (a
// free orchestrator, or source only), and not before.
func TestPermitSessionEndsAtExpiryWithoutPaidSegments(t *testing.T) {
	fx := newAdmitFixture(t)
	fake := clock.NewFake(utNow)
	ends := &endingReasons{}
	b := fx.broadcaster(func(c *BroadcasterConfig) { c.End, c.Timers, c.Now = ends.end, fake, fake.Now })
	p := utPermit(fx.bKey.Address, "cam", 9, 0)
	perm := admitted(t, b, fx.bearer(t, fx.funded, p), "cam", "s9")
	left := time.Unix(p.Expires.Int64(), 0).Sub(utNow)
	fake.Advance(left - time.Second)
	if e := ends.ended(); len(e) != 0 {
		t.Fatalf("ended %+v a second before the permit expired", e)
	}
	fake.Advance(time.Second)
	e := ends.ended()
	if len(e) != 1 || e[0].stream != "cam" || e[0].session != perm.session || !errors.Is(e[0].err, ErrPermitExpired) {
		t.Errorf("ended %+v, want cam/%s ended for its expired permit", e, perm.session)
	}
}
