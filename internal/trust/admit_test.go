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

func TestAdmitAnonymous(t *testing.T) {
	fx := newAdmitFixture(t)

	t.Run("permit required", func(t *testing.T) {
		b := fx.broadcaster(func(c *BroadcasterConfig) { c.RequirePermit = true })
		for _, auth := range []string{"", "Bearer", "Bearer some-whip-token", "Basic dXNlcjpwYXNz"} {
			done, err := b.Admit(utWHIP(auth), "cam")
			wantStatus(t, err, http.StatusUnauthorized, "only accepts wallet-signed streams", "Bearer "+sign.TokenPrefix)
			if done != nil {
				t.Errorf("Authorization %q: a done func with the refusal", auth)
			}
		}
	})

	t.Run("anonymous allowed", func(t *testing.T) {
		b := fx.broadcaster(nil)
		for _, auth := range []string{"", "Bearer some-whip-token", "Basic dXNlcjpwYXNz"} {
			done, err := b.Admit(utWHIP(auth), "cam")
			if err != nil || done == nil {
				t.Fatalf("Authorization %q: %v", auth, err)
			}
			done()
			if p := b.stream("cam"); p != nil {
				t.Errorf("anonymous stream linked to a permit of %s", p.publisher.Hex())
			}
		}
	})

	t.Run("anonymous admission unlinks the permit", func(t *testing.T) {
		b := fx.broadcaster(nil)
		if _, err := b.Admit(utWHIP(fx.bearer(t, fx.allowed, utPermit(fx.bKey.Address, "cam", 1, 5))), "cam"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Admit(utWHIP(fx.bearer(t, fx.allowed, utPermit(fx.bKey.Address, "other", 2, 5))), "other"); err != nil {
			t.Fatal(err)
		}
		if b.stream("cam") == nil {
			t.Fatal("permit not linked")
		}
		if _, err := b.Admit(utWHIP(""), "cam"); err != nil {
			t.Fatal(err)
		}
		if p := b.stream("cam"); p != nil {
			t.Errorf("the anonymous session of cam still carries the permit of %s", p.publisher.Hex())
		}
		if b.stream("other") == nil {
			t.Errorf("another stream's permit was unlinked too")
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
			done, err := b.Admit(utWHIP("Bearer "+c.token), "cam")
			wantStatus(t, err, http.StatusUnauthorized, c.want)
			if done != nil {
				t.Error("a done func with the refusal")
			}
			// The sign package's class is the status, not part of the reason.
			if strings.HasPrefix(err.Error(), sign.ErrUnauthorized.Error()+":") {
				t.Errorf("reason keeps the class prefix: %q", err)
			}
			if b.stream("cam") != nil {
				t.Error("a refused permit is linked")
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
	if _, err := b.Admit(utWHIP("bearer   "+utToken(t, fx.allowed, fx.d, p)), "cam"); err != nil {
		t.Fatal(err)
	}
	if perm := b.stream("cam"); perm == nil || perm.publisher != fx.allowed.Address || perm.billed {
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
			done, err := b.Admit(utWHIP(fx.bearer(t, c.signer, c.permit)), "cam")
			wantStatus(t, err, c.status, c.want...)
			if done != nil {
				t.Error("a done func with the refusal")
			}
			if strings.HasPrefix(err.Error(), sign.ErrForbidden.Error()+":") {
				t.Errorf("reason keeps the class prefix: %q", err)
			}
			if b.stream("cam") != nil {
				t.Error("a refused permit is linked")
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
	if _, err := b.Admit(utWHIP(tok), "cam"); err != nil {
		t.Fatalf("at the permit's price: %v", err)
	}
	// Unknown prices do not refuse.
	b = fx.broadcaster(func(c *BroadcasterConfig) { c.MinPrice = func() *big.Int { return nil } })
	if _, err := b.Admit(utWHIP(fx.bearer(t, fx.funded, utPermit(fx.bKey.Address, "cam", 4, 0))), "cam"); err != nil {
		t.Fatalf("with no price known: %v", err)
	}
}

func TestAdmitNonceReplay(t *testing.T) {
	fx := newAdmitFixture(t)
	b := fx.broadcaster(nil)
	p := utPermit(fx.bKey.Address, "cam", 42, 5)
	tok := fx.bearer(t, fx.funded, p)
	if _, err := b.Admit(utWHIP(tok), "cam"); err != nil {
		t.Fatal(err)
	}
	first := b.stream("cam")
	_, err := b.Admit(utWHIP(tok), "cam")
	wantStatus(t, err, http.StatusForbidden, "permit replayed", "nonce 42 of "+fx.funded.Address.Hex()+" was already used")
	if b.stream("cam") != first {
		t.Error("a replay replaced the stream's permit")
	}
	// Nonces are per publisher: another publisher's nonce 42 is its own.
	if _, err := b.Admit(utWHIP(fx.bearer(t, fx.allowed, p)), "cam"); err != nil {
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
			_, errs[i] = b.Admit(utWHIP(tok), "cam")
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

// TestAdmitLinksThePermit: an admitted permit is linked to its stream for
// the segments' records and bills; it outlives the session, and the next
// admission of the name replaces it.
func TestAdmitLinksThePermit(t *testing.T) {
	fx := newAdmitFixture(t)
	b := fx.broadcaster(nil)
	p1 := utPermit(fx.bKey.Address, "cam", 1, 5)
	done, err := b.Admit(utWHIP(fx.bearer(t, fx.funded, p1)), "cam")
	if err != nil {
		t.Fatal(err)
	}
	perm := b.stream("cam")
	if perm == nil || perm.publisher != fx.funded.Address || !perm.billed || perm.digest != sign.PermitDigest(fx.d, p1) {
		t.Fatalf("linked %+v", perm)
	}
	// The custody log keeps the permit as the publisher signed it.
	got, who, err := open[sign.Permit](fx.d, perm.sealed)
	if err != nil || who != fx.funded.Address || got.Nonce.Int64() != 1 || got.Stream != "cam" {
		t.Errorf("sealed permit: %+v by %s: %v", got, who.Hex(), err)
	}
	done()
	done() // harmless twice
	if b.stream("cam") != perm {
		t.Fatal("the permit was unlinked when the session ended: its last segments lose it")
	}

	p2 := utPermit(fx.bKey.Address, "cam", 2, 9)
	if _, err := b.Admit(utWHIP(fx.bearer(t, fx.allowed, p2)), "cam"); err != nil {
		t.Fatal(err)
	}
	next := b.stream("cam")
	if next == nil || next.publisher != fx.allowed.Address || next.billed || next.digest != sign.PermitDigest(fx.d, p2) ||
		next.permit.MaxPricePerPixel.Int64() != 9 {
		t.Errorf("after the next admission: %+v", next)
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
	if _, err := b.Admit(utWHIP(fx.bearer(t, fx.funded, utPermit(fx.bKey.Address, "cam", 11, 5))), "cam"); err != nil {
		t.Fatal(err)
	}
	s := b.ForNode("http://orchestrator.invalid").(*sealer)
	s.settle(job, orch, price, 1000)
	bills := fx.acct.bills()
	if len(bills) != 1 || bills[0].publisher != fx.funded.Address || bills[0].key != "cam/11/7" || bills[0].amount.Int64() != 3000 {
		t.Fatalf("bills %+v, want 3000 wei to %s under cam/11/7", bills, fx.funded.Address.Hex())
	}
	if bal := fx.acct.balance(fx.funded.Address); bal.Int64() != 1_000_000-3000 {
		t.Errorf("balance %s", bal)
	}
	// A free orchestrator costs nothing.
	s.settle(transcode.Job{Stream: "cam", Seq: 8}, orch, new(big.Int), 1000)
	s.settle(transcode.Job{Stream: "cam", Seq: 9}, orch, nil, 1000)
	if n := len(fx.acct.bills()); n != 1 {
		t.Errorf("%d bills after free segments", n)
	}

	fx.acct = newFakeAccounts()
	fx.cfg.Accounts = fx.acct
	b = fx.broadcaster(nil)
	if _, err := b.Admit(utWHIP(fx.bearer(t, fx.allowed, utPermit(fx.bKey.Address, "cam", 12, 5))), "cam"); err != nil {
		t.Fatal(err)
	}
	b.ForNode("http://orchestrator.invalid").(*sealer).settle(job, orch, price, 1000)
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
