package trust

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
)

// The admission tests drive Broadcaster.Admit as the WHIP handler does:
// real keys, real wallet-signed permits, a fake ledger (fakeAccounts).

// utDomain is the EIP-712 domain of the unit tests (a dev chain).
func utDomain() sign.Domain { return sign.DefaultDomain().WithChainID(big.NewInt(31337)) }

// utNow is the admission tests' clock.
var utNow = time.Unix(1_700_000_000, 0)

// wantStatus checks that err maps to status and that its text holds each
// of want.
func wantStatus(t *testing.T, err error, status int, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d %q", status, want)
	}
	if got := httpx.StatusOf(err); got != status {
		t.Errorf("status %d, want %d (%v)", got, status, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

// fakeAccounts is a broadcaster's ledger in memory: publisher balances,
// spent permit nonces, and bills charged once per key.
type fakeAccounts struct {
	mu       sync.Mutex
	balances map[common.Address]*big.Int
	nonces   map[string]bool
	// charged is what each bill key took; calls every Bill call, in order.
	charged map[string]*big.Int
	calls   []fakeBill
	// nonceErr, when set, is what UsePermitNonce fails with.
	nonceErr error
}

type fakeBill struct {
	publisher common.Address
	key       string
	amount    *big.Int
}

func newFakeAccounts() *fakeAccounts {
	return &fakeAccounts{balances: map[common.Address]*big.Int{}, nonces: map[string]bool{}, charged: map[string]*big.Int{}}
}

func (a *fakeAccounts) fund(p common.Address, wei int64) *fakeAccounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.balances[p] = big.NewInt(wei)
	return a
}

func (a *fakeAccounts) balance(p common.Address) *big.Int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if b := a.balances[p]; b != nil {
		return new(big.Int).Set(b)
	}
	return new(big.Int)
}

func (a *fakeAccounts) bills() []fakeBill {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]fakeBill(nil), a.calls...)
}

func (a *fakeAccounts) PublisherBalance(_ context.Context, p common.Address) (*big.Int, error) {
	return a.balance(p), nil
}

func (a *fakeAccounts) UsePermitNonce(_ context.Context, p common.Address, nonce *big.Int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nonceErr != nil {
		return a.nonceErr
	}
	k := p.Hex() + "/" + nonce.String()
	if a.nonces[k] {
		return fmt.Errorf("fake ledger: publisher %s nonce %s: %w", p.Hex(), nonce, ErrNonceUsed)
	}
	a.nonces[k] = true
	return nil
}

func (a *fakeAccounts) Bill(_ context.Context, p common.Address, key string, amount *big.Int) (*big.Int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fakeBill{p, key, new(big.Int).Set(amount)})
	bal := a.balances[p]
	if bal == nil {
		bal = new(big.Int)
		a.balances[p] = bal
	}
	if _, done := a.charged[p.Hex()+"|"+key]; done {
		return new(big.Int).Set(bal), nil
	}
	if bal.Cmp(amount) < 0 {
		return new(big.Int).Set(bal), fmt.Errorf("fake ledger: balance %s, bill %s: %w", bal, amount, ErrInsufficientBalance)
	}
	bal.Sub(bal, amount)
	a.charged[p.Hex()+"|"+key] = new(big.Int).Set(amount)
	return new(big.Int).Set(bal), nil
}

// utPermit is a permit for stream at broadcaster, valid an hour past utNow.
func utPermit(broadcaster common.Address, stream string, nonce, maxPrice int64) sign.Permit {
	return sign.Permit{Stream: stream, Broadcaster: broadcaster, Expires: big.NewInt(utNow.Add(time.Hour).Unix()),
		MaxPricePerPixel: big.NewInt(maxPrice), Nonce: big.NewInt(nonce)}
}

// utToken is p signed by k, as a bearer token.
func utToken(t *testing.T, k sign.Key, d sign.Domain, p sign.Permit) string {
	t.Helper()
	sig, err := sign.SignRecord(k, d, p)
	if err != nil {
		t.Fatal(err)
	}
	return sign.EncodeToken(p, sig)
}

// utWHIP is a WHIP offer carrying authorization (none when empty).
func utWHIP(authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/whip/cam", strings.NewReader("v=0"))
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

// admitFixture is a broadcaster with a publisher that may publish (on the
// allow-list), one with a balance, and one with neither.
type admitFixture struct {
	d                               sign.Domain
	bKey, allowed, funded, stranger sign.Key
	acct                            *fakeAccounts
	cfg                             BroadcasterConfig
}

func newAdmitFixture(t *testing.T) *admitFixture {
	t.Helper()
	fx := &admitFixture{d: utDomain(), bKey: vfKey(t), allowed: vfKey(t), funded: vfKey(t), stranger: vfKey(t)}
	fx.acct = newFakeAccounts().fund(fx.funded.Address, 1_000_000)
	fx.cfg = BroadcasterConfig{Key: fx.bKey, Domain: fx.d, Accounts: fx.acct, Allowed: []common.Address{fx.allowed.Address},
		Now: func() time.Time { return utNow }}
	return fx
}

func (fx *admitFixture) broadcaster(edit func(*BroadcasterConfig)) *Broadcaster {
	cfg := fx.cfg
	if edit != nil {
		edit(&cfg)
	}
	return NewBroadcaster(cfg)
}

func (fx *admitFixture) bearer(t *testing.T, k sign.Key, p sign.Permit) string {
	return "Bearer " + utToken(t, k, fx.d, p)
}

// admitted admits a WHIP request with authorization for stream and commits
// it for session, as whip does once the name is reserved, failing the test
// if either refuses; it returns the session's payer (nil: anonymous).
func admitted(t *testing.T, b *Broadcaster, authorization, stream, session string) *permitted {
	t.Helper()
	commit, err := b.Admit(utWHIP(authorization), stream)
	if err != nil {
		t.Fatal(err)
	}
	who, err := commit(t.Context(), session)
	if err != nil {
		t.Fatal(err)
	}
	if who == nil {
		return nil
	}
	return who.(*permitted)
}

// spent reports whether a permit nonce of publisher was spent.
func (a *fakeAccounts) spent(publisher common.Address, nonce int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nonces[publisher.Hex()+"/"+big.NewInt(nonce).String()]
}

func TestAdmitAnonymous(t *testing.T) {
	fx := newAdmitFixture(t)

	t.Run("permit required", func(t *testing.T) {
		b := fx.broadcaster(func(c *BroadcasterConfig) { c.RequirePermit = true })
		for _, auth := range []string{"", "Bearer", "Bearer some-whip-token", "Basic dXNlcjpwYXNz"} {
			commit, err := b.Admit(utWHIP(auth), "cam")
			wantStatus(t, err, http.StatusUnauthorized, "only accepts wallet-signed streams", "Bearer "+sign.TokenPrefix)
			if commit != nil {
				t.Errorf("Authorization %q: a commit with the refusal", auth)
			}
		}
	})

	t.Run("anonymous allowed", func(t *testing.T) {
		b := fx.broadcaster(nil)
		for _, auth := range []string{"", "Bearer some-whip-token", "Basic dXNlcjpwYXNz"} {
			if p := admitted(t, b, auth, "cam", "s1"); p != nil {
				t.Errorf("Authorization %q: an anonymous session billed to %s", auth, p)
			}
		}
	})
}

func TestAdmitMalformedToken(t *testing.T) {
	fx := newAdmitFixture(t)
	b := fx.broadcaster(nil)
	good := utToken(t, fx.allowed, fx.d, utPermit(fx.bKey.Address, "cam", 1, 5))
	body, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(good, sign.TokenPrefix))
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	reencode := func(edit func(map[string]any)) string {
		m := map[string]any{}
		for k, v := range tok {
			m[k] = v
		}
		edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return sign.TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	}
	for name, c := range map[string]struct{ token, want string }{
		"not base64":      {sign.TokenPrefix + "!!!", "bad permit token"},
		"empty":           {sign.TokenPrefix, "bad permit token"},
		"not json":        {sign.TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte("hello")), "bad permit token"},
		"short signature": {reencode(func(m map[string]any) { m["signature"] = "0x1234" }), "signature is 2 bytes"},
		"extra field":     {reencode(func(m map[string]any) { m["publisher"] = fx.allowed.Address.Hex() }), "bad permit token"},
		"too long":        {sign.TokenPrefix + strings.Repeat("A", sign.MaxTokenLen), "bad permit token"},
		"zero signature":  {reencode(func(m map[string]any) { m["signature"] = "0x" + strings.Repeat("00", 65) }), "permit"},
	} {
		t.Run(name, func(t *testing.T) {
			commit, err := b.Admit(utWHIP("Bearer "+c.token), "cam")
			wantStatus(t, err, http.StatusUnauthorized, c.want)
			if commit != nil {
				t.Error("a commit with the refusal")
			}
			// The sign package's class is the status, not part of the reason.
			if strings.HasPrefix(err.Error(), sign.ErrUnauthorized.Error()+":") {
				t.Errorf("reason keeps the class prefix: %q", err)
			}
		})
	}
}

// TestAdmitRecoversTheSigner: the publisher is whoever signed the permit,
// whatever the token claims, so a signature by one key cannot spend
// another's standing.
func TestAdmitRecoversTheSigner(t *testing.T) {
	fx := newAdmitFixture(t)
	b := fx.broadcaster(nil)

	// A stranger signs a permit: it is the stranger who asks, and is
	// refused, though an allowed publisher exists.
	p := utPermit(fx.bKey.Address, "cam", 1, 5)
	_, err := b.Admit(utWHIP(fx.bearer(t, fx.stranger, p)), "cam")
	wantStatus(t, err, http.StatusForbidden, "publisher "+fx.stranger.Address.Hex()+" is not allowed")
	if strings.Contains(err.Error(), fx.allowed.Address.Hex()) {
		t.Errorf("refusal names the allowed publisher: %v", err)
	}

	// The allowed publisher's signature over other fields (a token whose
	// nonce was changed after signing) recovers someone else, unfunded.
	sig, err := sign.SignRecord(fx.allowed, fx.d, p)
	if err != nil {
		t.Fatal(err)
	}
	altered := p
	altered.Nonce = big.NewInt(2)
	_, err = b.Admit(utWHIP("Bearer "+sign.EncodeToken(altered, sig)), "cam")
	wantStatus(t, err, http.StatusForbidden, "is not allowed")
	if strings.Contains(err.Error(), fx.allowed.Address.Hex()) {
		t.Errorf("a signature over other fields passed as the allowed publisher's: %v", err)
	}

	// Signed by the allowed key, it is the allowed publisher.
	if perm := admitted(t, b, "bearer   "+utToken(t, fx.allowed, fx.d, p), "cam", "s1"); perm == nil ||
		perm.publisher != fx.allowed.Address || perm.billed {
		t.Fatalf("linked %+v, want the allowed publisher, unbilled", perm)
	}
}

func TestAdmitRefusesPermits(t *testing.T) {
	fx := newAdmitFixture(t)
	other := vfKey(t)
	for name, c := range map[string]struct {
		signer sign.Key
		permit sign.Permit
		edit   func(*BroadcasterConfig)
		status int
		want   []string
	}{
		"other broadcaster": {fx.allowed, utPermit(other.Address, "cam", 1, 5), nil, http.StatusForbidden,
			[]string{"permit is for broadcaster " + other.Address.Hex() + ", this is " + fx.bKey.Address.Hex()}},
		"other stream": {fx.allowed, utPermit(fx.bKey.Address, "cam2", 1, 5), nil, http.StatusForbidden,
			[]string{`permit is for stream "cam2", not "cam"`}},
		"expired": {fx.allowed, func() sign.Permit {
			p := utPermit(fx.bKey.Address, "cam", 1, 5)
			p.Expires = big.NewInt(utNow.Unix())
			return p
		}(), nil, http.StatusForbidden, []string{"permit expired at " + utNow.UTC().Format(time.RFC3339)}},
		"not allowed, unfunded": {fx.stranger, utPermit(fx.bKey.Address, "cam", 1, 5), nil, http.StatusForbidden,
			[]string{"publisher " + fx.stranger.Address.Hex() + " is not allowed", "castnet ledger fund -publisher " + fx.stranger.Address.Hex()}},
		"not allowed, no ledger": {fx.funded, utPermit(fx.bKey.Address, "cam", 1, 5),
			func(c *BroadcasterConfig) { c.Accounts = nil }, http.StatusForbidden, []string{"is not allowed"}},
		"price above the permit": {fx.allowed, utPermit(fx.bKey.Address, "cam", 1, 5),
			func(c *BroadcasterConfig) { c.MinPrice = func() *big.Int { return big.NewInt(6) } }, http.StatusForbidden,
			[]string{"price above the permit", "asks 6 wei per pixel, the permit allows 5"}},
		"ledger down": {fx.allowed, utPermit(fx.bKey.Address, "cam", 1, 5),
			func(c *BroadcasterConfig) {
				a := newFakeAccounts()
				a.nonceErr = errors.New("database is locked")
				c.Accounts = a
			}, http.StatusInternalServerError, []string{"database is locked"}},
	} {
		t.Run(name, func(t *testing.T) {
			b := fx.broadcaster(c.edit)
			_, err := admitAndCommit(t, b, fx.bearer(t, c.signer, c.permit), "cam")
			wantStatus(t, err, c.status, c.want...)
			if strings.HasPrefix(err.Error(), sign.ErrForbidden.Error()+":") {
				t.Errorf("reason keeps the class prefix: %q", err)
			}
		})
	}
}

func TestAdmitPriceAtThePermit(t *testing.T) {
	fx := newAdmitFixture(t)
	price := big.NewInt(5)
	b := fx.broadcaster(func(c *BroadcasterConfig) { c.MinPrice = func() *big.Int { return price } })
	// A refusal for the price spends no nonce: the same permit is good
	// once the price comes down to it.
	p := utPermit(fx.bKey.Address, "cam", 3, 4)
	tok := fx.bearer(t, fx.funded, p)
	_, err := b.Admit(utWHIP(tok), "cam")
	wantStatus(t, err, http.StatusForbidden, "price above the permit")
	price = big.NewInt(4)
	if _, err := admitAndCommit(t, b, tok, "cam"); err != nil {
		t.Fatalf("at the permit's price: %v", err)
	}
	// Unknown prices do not refuse.
	b = fx.broadcaster(func(c *BroadcasterConfig) { c.MinPrice = func() *big.Int { return nil } })
	if _, err := b.Admit(utWHIP(fx.bearer(t, fx.funded, utPermit(fx.bKey.Address, "cam", 4, 0))), "cam"); err != nil {
		t.Fatalf("with no price known: %v", err)
	}
}

// admitAndCommit admits and commits a request for session "s1" of stream;
// a refusal by either is returned, with the commit when only it refused.
func admitAndCommit(t *testing.T, b *Broadcaster, authorization, stream string) (commitFunc, error) {
	t.Helper()
	commit, err := b.Admit(utWHIP(authorization), stream)
	if err != nil {
		return nil, err
	}
	_, err = commit(t.Context(), "s1")
	return commit, err
}

func TestAdmitNonceReplay(t *testing.T) {
	fx := newAdmitFixture(t)
	b := fx.broadcaster(nil)
	p := utPermit(fx.bKey.Address, "cam", 42, 5)
	tok := fx.bearer(t, fx.funded, p)
	first := admitted(t, b, tok, "cam", "s1")
	// A replay passes the checks that change nothing, and is refused at
	// its commit: once whip has reserved the free name for it.
	commit, err := admitAndCommit(t, b, tok, "cam")
	if commit == nil {
		t.Fatalf("a replay refused before its commit: %v", err)
	}
	wantStatus(t, err, http.StatusForbidden, "permit replayed", "nonce 42 of "+fx.funded.Address.Hex()+" was already used")
	if first.session != "s1" || first.permit.Nonce.Int64() != 42 {
		t.Errorf("a replay changed the first session's payer: %+v", first)
	}
	// Nonces are per publisher: another publisher's nonce 42 is its own.
	if _, err := admitAndCommit(t, b, fx.bearer(t, fx.allowed, p), "cam"); err != nil {
		t.Errorf("another publisher's nonce 42: %v", err)
	}

	// Concurrent admissions of one token: exactly one wins.
	b = fx.broadcaster(nil)
	tok = fx.bearer(t, fx.funded, utPermit(fx.bKey.Address, "cam", 43, 5))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = admitAndCommit(t, b, tok, "cam")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case httpx.StatusOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), "permit replayed"):
			t.Errorf("concurrent replay: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses of one nonce admitted", ok, len(errs))
	}
}

// TestAdmitCommitsThePermit: a committed permit is the session's payer,
// for its segments' records and bills. Each session gets its own: the next
// admission of the name leaves the first as it was.
func TestAdmitCommitsThePermit(t *testing.T) {
	fx := newAdmitFixture(t)
	b := fx.broadcaster(nil)
	p1 := utPermit(fx.bKey.Address, "cam", 1, 5)
	perm := admitted(t, b, fx.bearer(t, fx.funded, p1), "cam", "s1")
	if perm == nil || perm.publisher != fx.funded.Address || !perm.billed || perm.digest != sign.PermitDigest(fx.d, p1) ||
		perm.stream != "cam" || perm.session != "s1" {
		t.Fatalf("committed %+v", perm)
	}
	if got := perm.String(); !strings.Contains(got, fx.funded.Address.Hex()) || !strings.Contains(got, "nonce 1") {
		t.Errorf("payer logged as %q", got)
	}
	// The custody log keeps the permit as the publisher signed it.
	got, who, err := open[sign.Permit](fx.d, perm.sealed)
	if err != nil || who != fx.funded.Address || got.Nonce.Int64() != 1 || got.Stream != "cam" {
		t.Errorf("sealed permit: %+v by %s: %v", got, who.Hex(), err)
	}
	first := *perm

	p2 := utPermit(fx.bKey.Address, "cam", 2, 9)
	next := admitted(t, b, fx.bearer(t, fx.allowed, p2), "cam", "s2")
	if next == nil || next.publisher != fx.allowed.Address || next.billed || next.digest != sign.PermitDigest(fx.d, p2) ||
		next.permit.MaxPricePerPixel.Int64() != 9 || next.session != "s2" {
		t.Errorf("the next session's payer: %+v", next)
	}
	if perm.session != first.session || perm.digest != first.digest || perm.publisher != first.publisher {
		t.Errorf("the next admission changed the first session's payer: %+v", perm)
	}
}

// TestAdmitBilling: a funded publisher is billed for its segments; an
// allow-listed one publishes on the node's account.
func TestAdmitBilling(t *testing.T) {
	fx := newAdmitFixture(t)
	orch := vfKey(t).Address
	job := transcode.Job{Stream: "cam", Seq: 7}
	price := big.NewInt(3)

	b := fx.broadcaster(nil)
	job.Payer = admitted(t, b, fx.bearer(t, fx.funded, utPermit(fx.bKey.Address, "cam", 11, 5)), "cam", "s1")
	s := b.ForNode("http://orchestrator.invalid").(*sealer)
	s.settle(context.Background(), job, orch, price, 1000)
	bills := fx.acct.bills()
	if len(bills) != 1 || bills[0].publisher != fx.funded.Address || bills[0].key != "cam/11/7" || bills[0].amount.Int64() != 3000 {
		t.Fatalf("bills %+v, want 3000 wei to %s under cam/11/7", bills, fx.funded.Address.Hex())
	}
	if bal := fx.acct.balance(fx.funded.Address); bal.Int64() != 1_000_000-3000 {
		t.Errorf("balance %s", bal)
	}
	// A free orchestrator costs nothing.
	s.settle(context.Background(), transcode.Job{Stream: "cam", Seq: 8, Payer: job.Payer}, orch, new(big.Int), 1000)
	s.settle(context.Background(), transcode.Job{Stream: "cam", Seq: 9, Payer: job.Payer}, orch, nil, 1000)
	if n := len(fx.acct.bills()); n != 1 {
		t.Errorf("%d bills after free segments", n)
	}

	fx.acct = newFakeAccounts()
	fx.cfg.Accounts = fx.acct
	b = fx.broadcaster(nil)
	job.Payer = admitted(t, b, fx.bearer(t, fx.allowed, utPermit(fx.bKey.Address, "cam", 12, 5)), "cam", "s1")
	b.ForNode("http://orchestrator.invalid").(*sealer).settle(context.Background(), job, orch, price, 1000)
	if bills := fx.acct.bills(); len(bills) != 0 {
		t.Errorf("an allow-listed publisher was billed: %+v", bills)
	}
}

func TestPublishRequestSuggestsAPrice(t *testing.T) {
	fx := newAdmitFixture(t)
	for name, c := range map[string]struct {
		edit func(*BroadcasterConfig)
		want string
	}{
		"nothing known":   {nil, "0"},
		"twice the least": {func(c *BroadcasterConfig) { c.MinPrice = func() *big.Int { return big.NewInt(21) } }, "42"},
		"the cap": {func(c *BroadcasterConfig) {
			c.MinPrice = func() *big.Int { return big.NewInt(21) }
			c.MaxPrice = big.NewInt(30)
			c.RequirePermit = true
		}, "30"},
	} {
		t.Run(name, func(t *testing.T) {
			b := fx.broadcaster(c.edit)
			w := httptest.NewRecorder()
			b.PublishRequestHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/eip712", nil))
			var got struct {
				MaxPricePerPixel string `json:"maxPricePerPixel"`
				RequirePermit    bool   `json:"requirePermit"`
				PrimaryType      string `json:"primaryType"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusOK {
				t.Fatalf("%d %s: %v", w.Code, w.Body, err)
			}
			if got.MaxPricePerPixel != c.want || got.PrimaryType != "Publish" || got.RequirePermit != b.cfg.RequirePermit {
				t.Errorf("%+v, want maxPricePerPixel %s", got, c.want)
			}
		})
	}
}

// TestOwnerIsThePermitSigner: two permits (two nonces) of one signer have
// the same owner, so the second may take over the first's dead session;
// another signer, or no permit, is someone else.
func TestOwnerIsThePermitSigner(t *testing.T) {
	fx := newAdmitFixture(t)
	b := fx.broadcaster(nil)
	first := b.Owner(utWHIP(fx.bearer(t, fx.funded, utPermit(fx.bKey.Address, "cam", 1, 0))), "cam")
	second := b.Owner(utWHIP(fx.bearer(t, fx.funded, utPermit(fx.bKey.Address, "cam", 2, 0))), "cam")
	if first != fx.funded.Address.Hex() || second != first {
		t.Errorf("owners %q and %q, want both %s", first, second, fx.funded.Address.Hex())
	}
	if other := b.Owner(utWHIP(fx.bearer(t, fx.allowed, utPermit(fx.bKey.Address, "cam", 1, 0))), "cam"); other == first {
		t.Error("another signer has the same owner")
	}
	if anon := b.Owner(utWHIP(""), "cam"); anon != "" {
		t.Errorf("anonymous owner %q, want none", anon)
	}
	forged := utPermit(fx.bKey.Address, "cam", 3, 0)
	if other := b.Owner(utWHIP(fx.bearer(t, fx.funded, forged)), "elsewhere"); other != "" {
		t.Errorf("a permit for another stream has owner %q", other)
	}
}
