package e2e

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// testWallet stands in for a browser wallet: the page sees an EIP-1193
// provider at window.ethereum whose eth_signTypedData_v4 is answered here,
// in Go, with go-ethereum's generic EIP-712 hashing (not castnet's sign
// package), so the typed data the page builds is checked independently of
// the node that verifies it.
type testWallet struct {
	key     *ecdsa.PrivateKey
	address common.Address

	mu     sync.Mutex
	signed []apitypes.TypedData // what the page had signed, in order
}

func newTestWallet(t *testing.T) *testWallet {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testWallet{key: key, address: crypto.PubkeyToAddress(key.PublicKey)}
}

// sign answers eth_signTypedData_v4 [address, typedDataJSON].
func (w *testWallet) sign(_ context.Context, params []string) (string, error) {
	if len(params) != 2 {
		return "", fmt.Errorf("eth_signTypedData_v4 takes [address, typedData], got %d params", len(params))
	}
	if !common.IsHexAddress(params[0]) || common.HexToAddress(params[0]) != w.address {
		return "", fmt.Errorf("asked to sign as %s, the wallet is %s", params[0], w.address.Hex())
	}
	if err := checkTypedDataJSON(params[1]); err != nil {
		return "", err
	}
	var td apitypes.TypedData
	if err := json.Unmarshal([]byte(params[1]), &td); err != nil {
		return "", fmt.Errorf("typed data %s: %w", params[1], err)
	}
	hash, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		return "", fmt.Errorf("hash typed data %s: %w", params[1], err)
	}
	sig, err := crypto.Sign(hash, w.key)
	if err != nil {
		return "", err
	}
	sig[64] += 27
	w.mu.Lock()
	w.signed = append(w.signed, td)
	w.mu.Unlock()
	return hexutil.Encode(sig), nil
}

func (w *testWallet) lastSigned() (apitypes.TypedData, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.signed) == 0 {
		return apitypes.TypedData{}, 0
	}
	return w.signed[len(w.signed)-1], len(w.signed)
}

// checkTypedDataJSON checks what apitypes would accept anyway but a
// strict wallet might not: the EIP712Domain type is there, and every
// message field is a JSON string (uint256 as decimal, never a number).
func checkTypedDataJSON(s string) error {
	var raw struct {
		Types   map[string]json.RawMessage `json:"types"`
		Message map[string]any             `json:"message"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return fmt.Errorf("typed data %s: %w", s, err)
	}
	if _, ok := raw.Types["EIP712Domain"]; !ok {
		return fmt.Errorf("typed data without the EIP712Domain type: %s", s)
	}
	for _, k := range []string{"stream", "broadcaster", "expires", "maxPricePerPixel", "nonce"} {
		if _, ok := raw.Message[k].(string); !ok {
			return fmt.Errorf("message field %s is %T, want a string: %s", k, raw.Message[k], s)
		}
	}
	return nil
}

// providerJS defines window.ethereum before the page's scripts run; the
// clock line, when not empty, shifts Date.now for the page.
const providerJS = `(() => {
  %s
  const address = %q;
  window.ethereum = {
    isCastnetTest: true,
    async request({ method, params }) {
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [address];
        case 'eth_chainId':
          return '0x1';
        case 'eth_signTypedData_v4':
          return window.castnetTestSign(params[0], params[1]);
      }
      throw Object.assign(new Error('unsupported method ' + method), { code: 4200 });
    },
    on() {},
    removeListener() {},
  };
})();`

// withWallet installs w as the browser's wallet for every page the tab
// loads, with the page's clock shifted by skew.
func withWallet(w *testWallet, skew time.Duration) chromedp.Action[chromedp.Void] {
	clock := ""
	if skew != 0 {
		clock = fmt.Sprintf("const realNow = Date.now; Date.now = () => realNow() + (%d);", skew.Milliseconds())
	}
	script := fmt.Sprintf(providerJS, clock, w.address.Hex())
	return chromedp.Steps(
		chromedp.ExposeFunc("castnetTestSign", w.sign),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
			return err
		}),
	)
}

// permitInfo is the part of GET /api/eip712 the test reads.
type permitInfo struct {
	Broadcaster      string `json:"broadcaster"`
	RequirePermit    bool   `json:"requirePermit"`
	MaxPricePerPixel string `json:"maxPricePerPixel"`
}

// liveStream reports whether GET /api/streams lists name as live.
func (n *node) liveStream(name string) bool {
	resp, err := http.Get(n.URL + "/api/streams")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		n.t.Fatalf("GET /api/streams: %v", err)
	}
	for _, s := range list {
		if s.Name == name && s.State == "live" {
			return true
		}
	}
	return false
}

// waitRefused waits for the page to give up after a refusal and returns
// the error it shows.
func waitRefused(t *testing.T, ctx context.Context) string {
	t.Helper()
	run(t, ctx, 30*time.Second, "wait for the refusal",
		poll(`window.castnet.state === 'idle' && window.castnet.error !== ''`, 25*time.Second))
	msg := eval[string](t, ctx, `window.castnet.error`)
	t.Logf("the page says: %s", msg)
	return msg
}

// TestWalletPublish: the publisher page's Connect wallet flow against a node
// that only accepts wallet-signed streams. A listed wallet goes live; an
// unlisted wallet and an expired permit are refused with the node's
// reason; a visitor without a wallet is told what to do.
func TestWalletPublish(t *testing.T) {
	needTools(t, "chromium", "ffmpeg", "ffprobe")
	allowed := newTestWallet(t)
	list := filepath.Join(t.TempDir(), "publishers.txt")
	if err := os.WriteFile(list, []byte("# e2e\n"+allowed.address.Hex()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "-require-permit", "-publishers", list)
	var info permitInfo
	if err := json.Unmarshal([]byte(get(t, n.URL+"/api/eip712")), &info); err != nil {
		t.Fatalf("GET /api/eip712: %v", err)
	}
	if !info.RequirePermit || !common.IsHexAddress(info.Broadcaster) {
		t.Fatalf("GET /api/eip712 = %+v: want requirePermit and the broadcaster's address", info)
	}

	t.Run("listed wallet goes live", func(t *testing.T) {
		ctx := browser(t)
		const stream = "wallet-ok"
		run(t, ctx, 30*time.Second, "open the publisher page and connect the wallet",
			withWallet(allowed, 0),
			chromedp.Navigate(n.URL+"/?stream="+stream),
			poll(`window.castnet.wallet.requirePermit && !document.querySelector('#connectwallet').disabled`, 10*time.Second),
			chromedp.Click(chromedp.CSS("#connectwallet")),
			poll(`window.castnet.wallet.address !== ''`, 10*time.Second),
		)
		short := eval[string](t, ctx, `document.querySelector('#walletaddress').textContent`)
		addr := allowed.address.Hex()
		if want := addr[:6] + "…" + addr[len(addr)-4:]; short != want {
			t.Errorf("page shows the wallet as %q, want %q", short, want)
		}
		if status := eval[string](t, ctx, `document.querySelector('#wallet-status').textContent`); !strings.Contains(status, addr) {
			t.Errorf("wallet status %q does not name %s", status, addr)
		}
		run(t, ctx, 40*time.Second, "go live",
			chromedp.Click(chromedp.CSS("#golive")),
			poll(`['live', 'idle', 'error'].includes(window.castnet.state)`, 30*time.Second),
		)
		if st := eval[string](t, ctx, `window.castnet.state`); st != "live" {
			t.Fatalf("page state %q after Go live, error %q", st, eval[string](t, ctx, `window.castnet.error`))
		}
		deadline := time.Now().Add(15 * time.Second)
		for !n.liveStream(stream) {
			if time.Now().After(deadline) {
				t.Fatalf("GET /api/streams does not list %s as live", stream)
			}
			time.Sleep(200 * time.Millisecond)
		}

		// The wallet signed exactly what the page shows.
		td, count := allowed.lastSigned()
		if count != 1 {
			t.Fatalf("the wallet signed %d times, want once", count)
		}
		if td.PrimaryType != "Publish" || td.Message["stream"] != stream || td.Message["broadcaster"] != info.Broadcaster ||
			td.Message["maxPricePerPixel"] != info.MaxPricePerPixel {
			t.Errorf("signed %s %v, want a Publish of %s for %s at %s", td.PrimaryType, td.Message, stream, info.Broadcaster, info.MaxPricePerPixel)
		}
		shown := eval[map[string]string](t, ctx, `(() => {
			const text = (id) => document.getElementById(id).textContent;
			return { hidden: String(document.getElementById('permit').hidden), stream: text('permit-stream'),
				expires: text('permit-expires'), price: text('permit-price'), broadcaster: text('permit-broadcaster') };
		})()`)
		if shown["hidden"] != "false" || shown["stream"] != stream || shown["broadcaster"] != info.Broadcaster ||
			shown["price"] != info.MaxPricePerPixel+" wei" || shown["expires"] == "" {
			t.Errorf("the page shows the permit as %v", shown)
		}

		// Stop sends DELETE with the permit, which the node requires.
		run(t, ctx, 20*time.Second, "stop",
			chromedp.Click(chromedp.CSS("#stop")),
			poll(`window.castnet.state === 'stopped'`, 15*time.Second),
		)
		n.waitState(stream, "ended", 30*time.Second)
	})

	t.Run("unlisted wallet is refused", func(t *testing.T) {
		stranger := newTestWallet(t)
		ctx := browser(t)
		// No Connect wallet click: Go live connects first.
		run(t, ctx, 30*time.Second, "open the publisher page and go live",
			withWallet(stranger, 0),
			chromedp.Navigate(n.URL+"/?stream=wallet-stranger"),
			poll(`window.castnet.wallet.requirePermit && !document.querySelector('#golive').disabled`, 10*time.Second),
			chromedp.Click(chromedp.CSS("#golive")),
		)
		msg := waitRefused(t, ctx)
		if !strings.HasPrefix(msg, "Refused: 403") || !strings.Contains(msg, "not allowed") || !strings.Contains(msg, stranger.address.Hex()) {
			t.Errorf("page shows %q, want the node's 403 reason naming %s", msg, stranger.address.Hex())
		}
		if _, count := stranger.lastSigned(); count != 1 {
			t.Errorf("the wallet signed %d times, want once", count)
		}
		if got := eval[string](t, ctx, `window.castnet.wallet.address`); got != stranger.address.Hex() {
			t.Errorf("Go live connected %q, want %s", got, stranger.address.Hex())
		}
	})

	t.Run("expired permit is refused", func(t *testing.T) {
		ctx := browser(t)
		run(t, ctx, 30*time.Second, "open the publisher page two hours in the past and go live",
			withWallet(allowed, -2*time.Hour),
			chromedp.Navigate(n.URL+"/?stream=wallet-late"),
			poll(`window.castnet.wallet.requirePermit && !document.querySelector('#golive').disabled`, 10*time.Second),
			chromedp.Click(chromedp.CSS("#golive")),
		)
		msg := waitRefused(t, ctx)
		if !strings.HasPrefix(msg, "Refused: 403") || !strings.Contains(msg, "expired") {
			t.Errorf("page shows %q, want the node's 403 reason: expired", msg)
		}
	})

	t.Run("no wallet", func(t *testing.T) {
		ctx := browser(t)
		run(t, ctx, 30*time.Second, "open the publisher page without a wallet",
			chromedp.Navigate(n.URL+"/?stream=wallet-none"),
			poll(`window.castnet.wallet.requirePermit`, 10*time.Second),
		)
		status := eval[string](t, ctx, `document.querySelector('#wallet-status').textContent`)
		if !strings.Contains(status, "This node only accepts wallet-signed streams. Install a browser wallet") {
			t.Errorf("wallet status %q does not say a wallet is needed", status)
		}
		disabled := eval[[]bool](t, ctx, `[document.querySelector('#golive').disabled, document.querySelector('#connectwallet').disabled]`)
		if !disabled[0] || !disabled[1] {
			t.Errorf("Go live disabled %v, Connect wallet disabled %v: want both disabled", disabled[0], disabled[1])
		}
	})
}
