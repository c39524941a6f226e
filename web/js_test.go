package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/names"
)

// node returns the path of node, skipping the test where it is missing.
func node(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed; JavaScript checks skipped")
	}
	return p
}

// ourScripts lists the page scripts (vendored code is not ours to check).
func ourScripts(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(staticFS, "static/*.js")
	if err != nil || len(names) < 4 {
		t.Fatalf("scripts %v, err %v: want common.js, publish.js, wallet.js, watch.js", names, err)
	}
	return names
}

func TestJavaScriptParses(t *testing.T) {
	bin := node(t)
	for _, name := range ourScripts(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			out, err := exec.Command(bin, "--check", filepath.FromSlash(name)).CombinedOutput()
			if err != nil {
				t.Fatalf("node --check %s: %v\n%s", name, err, out)
			}
		})
	}
}

// call is one invocation of a CastnetCommon function in the harness.
type call struct {
	Fn   string `json:"fn"`
	Args []any  `json:"args"`
}

// runCommon runs calls against static/common.js under node and returns each
// result as JSON.
func runCommon(t *testing.T, calls []call) []json.RawMessage {
	t.Helper()
	return runHarness(t, "common_harness.js", "common.js", calls)
}

// runHarness runs calls against static/script with testdata/harness under
// node and returns each result as JSON.
func runHarness(t *testing.T, harness, script string, calls []call) []json.RawMessage {
	t.Helper()
	in, err := json.Marshal(calls)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node(t), filepath.Join("testdata", harness), filepath.Join("static", script))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, stderr.String())
	}
	var results []json.RawMessage
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(calls) {
		t.Fatalf("harness output %q: %v", out, err)
	}
	return results
}

func TestCommonJSHelpers(t *testing.T) {
	chrome := []any{
		map[string]any{"mimeType": "video/VP8"},
		map[string]any{"mimeType": "video/rtx"},
		map[string]any{"mimeType": "video/H264", "sdpFmtpLine": "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"},
		map[string]any{"mimeType": "video/H264", "sdpFmtpLine": "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f"},
		map[string]any{"mimeType": "video/H264", "sdpFmtpLine": "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"},
		map[string]any{"mimeType": "video/H264", "sdpFmtpLine": "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		map[string]any{"mimeType": "video/AV1"},
	}
	tests := []struct {
		name string
		call call
		want string // JSON
	}{
		{"bitrate below a kilobit", call{"formatBitrate", []any{999}}, `"999 bps"`},
		{"bitrate in kbps", call{"formatBitrate", []any{850_400}}, `"850 kbps"`},
		{"bitrate in Mbps", call{"formatBitrate", []any{2_100_000}}, `"2.1 Mbps"`},
		{"bitrate unknown", call{"formatBitrate", []any{nil}}, `"—"`},
		{"duration under an hour", call{"formatDuration", []any{83_999}}, `"1:23"`},
		{"duration over an hour", call{"formatDuration", []any{3_723_000}}, `"1:02:03"`},
		{"rendition label", call{"renditionLabel", []any{720, 2_100_000}}, `"720p · 2.1 Mbps"`},
		{"rendition without size uses the fallback", call{"renditionLabel", []any{0, 0, "Level 1"}}, `"Level 1"`},
		{"stream from a watch path", call{"streamFromPath", []any{"/watch/cam-1"}}, `"cam-1"`},
		{"stream from an escaped path", call{"streamFromPath", []any{"/watch/cam%5F1"}}, `"cam_1"`},
		{"stream from a path with a trailing slash", call{"streamFromPath", []any{"/watch/cam/"}}, `"cam"`},
		{"no stream from a nested path", call{"streamFromPath", []any{"/watch/a/b"}}, `""`},
		{"no stream from a bad escape", call{"streamFromPath", []any{"/watch/%E0%A4%A"}}, `""`},
		{"no stream from an invalid name", call{"streamFromPath", []any{"/watch/a%20b"}}, `""`},
		{"H.264 packetization-mode=1 first, constrained baseline leading",
			call{"orderCodecs", []any{chrome}},
			`["video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",` +
				`"video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",` +
				`"video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",` +
				`"video/H264 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",` +
				`"video/VP8","video/rtx","video/AV1"]`},
		{"server refusal shows castnet's text body", call{"responseReason", []any{409, "409 conflict: stream already live\n", ""}}, `"409 conflict: stream already live"`},
		{"server refusal without a body shows the status", call{"responseReason", []any{401, "", ""}}, `"401"`},
		{"bare body gets the status in front", call{"responseReason", []any{401, "bad token", ""}}, `"401 bad token"`},
		{"HTML error pages are not shown", call{"responseReason", []any{502, "<html>bad gateway</html>", ""}}, `"502"`},
		{"Retry-After seconds are shown", call{"responseReason", []any{503, "503 service unavailable: busy", "7"}}, `"503 service unavailable: busy (retry after 7 s)"`},
		{"denied camera", call{"describeMediaError", []any{map[string]any{"name": "NotAllowedError"}, "camera"}},
			`"Permission denied: allow camera and microphone access for this site (in the address bar or site settings), then try again."`},
		{"cancelled screen share", call{"describeMediaError", []any{map[string]any{"name": "NotAllowedError"}, "screen"}},
			`"Screen sharing was cancelled or blocked. Choose a screen, window or tab to share."`},
		{"no camera", call{"describeMediaError", []any{map[string]any{"name": "NotFoundError"}, "camera"}},
			`"No camera found. Connect a camera, or choose Screen share as the source."`},
		{"server refusal is shown as written", call{"describePublishError", []any{"user", "The server refused the stream: 409 conflict"}}, `"The server refused the stream: 409 conflict"`},
		{"unreachable server", call{"describePublishError", []any{"type", "Failed to fetch"}}, `"Could not reach the server: Failed to fetch"`},
	}
	calls := make([]call, len(tests))
	for i, tt := range tests {
		calls[i] = tt.call
	}
	results := runCommon(t, calls)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(results[i]); got != tt.want {
				t.Errorf("%s(%v)\n got %s\nwant %s", tt.call.Fn, tt.call.Args, got, tt.want)
			}
		})
	}
}

// The page and the server must agree on which stream names exist.
func TestStreamNameRuleMatchesGo(t *testing.T) {
	names := []string{"a", "stream-ab12", "A_b-9", strings.Repeat("x", 64), strings.Repeat("x", 65),
		"", "a b", "a.b", "a/b", "é", "a\n", "../x", "-", "_"}
	var calls []call
	for _, n := range names {
		calls = append(calls, call{"isValidStreamName", []any{n}})
	}
	for range 20 {
		calls = append(calls, call{"randomStreamName", nil})
	}
	results := runCommon(t, calls)
	for i, n := range names {
		if js, goes := string(results[i]) == "true", streamNameRE.MatchString(n); js != goes {
			t.Errorf("name %q: JavaScript says %v, Go says %v", n, js, goes)
		}
	}
	seen := map[string]bool{}
	for _, raw := range results[len(names):] {
		var n string
		if err := json.Unmarshal(raw, &n); err != nil || !streamNameRE.MatchString(n) || !strings.HasPrefix(n, "stream-") {
			t.Errorf("randomStreamName() = %s: want a valid stream-xxxx name", raw)
		}
		seen[n] = true
	}
	if len(seen) < 15 {
		t.Errorf("randomStreamName gave only %d distinct names in 20 calls", len(seen))
	}
}

// runWallet runs calls against static/wallet.js under node.
func runWallet(t *testing.T, calls []call) []json.RawMessage {
	t.Helper()
	return runHarness(t, "wallet_harness.js", "wallet.js", calls)
}

// The token carries its JSON as base64url without padding, what Go's
// base64.RawURLEncoding reads, for any UTF-8 and any byte length.
func TestWalletBase64URL(t *testing.T) {
	strs := []string{"", "f", "fo", "foo", "foob", "fooba", "foobar", "héllo €𝄞", `{"a":"~~~???>>>"}`, strings.Repeat("xyz?", 100)}
	var calls []call
	for _, s := range strs {
		calls = append(calls, call{"base64url", []any{s}})
	}
	all := make([]any, 256)
	for i := range all {
		all[i] = i
	}
	calls = append(calls, call{"base64urlBytes", []any{all}})
	results := runWallet(t, calls)
	for i, s := range strs {
		if want, _ := json.Marshal(base64.RawURLEncoding.EncodeToString([]byte(s))); string(results[i]) != string(want) {
			t.Errorf("base64url(%q) = %s, want %s", s, results[i], want)
		}
	}
	raw := make([]byte, 256)
	for i := range raw {
		raw[i] = byte(i)
	}
	if want, _ := json.Marshal(base64.RawURLEncoding.EncodeToString(raw)); string(results[len(strs)]) != string(want) {
		t.Errorf("base64url(bytes 0..255) = %s, want %s", results[len(strs)], want)
	}
}

// permitMessage is the Publish message the wallet signs, as the page sends it.
type permitMessage struct {
	Stream           string `json:"stream"`
	Broadcaster      string `json:"broadcaster"`
	Expires          string `json:"expires"`
	MaxPricePerPixel string `json:"maxPricePerPixel"`
	Nonce            string `json:"nonce"`
}

var decimalRE = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

// checkNonce reports a nonce that is not a 64-bit decimal string.
func checkNonce(t *testing.T, nonce string) {
	t.Helper()
	if !decimalRE.MatchString(nonce) {
		t.Errorf("nonce %q is not a decimal string", nonce)
		return
	}
	if _, err := strconv.ParseUint(nonce, 10, 64); err != nil {
		t.Errorf("nonce %q is not a 64-bit integer: %v", nonce, err)
	}
}

func TestWalletNonceIsFreshAndDecimal(t *testing.T) {
	const n = 64
	calls := make([]call, n)
	for i := range calls {
		calls[i] = call{"randomNonce", nil}
	}
	seen := map[string]bool{}
	long := 0
	for _, raw := range runWallet(t, calls) {
		var nonce string
		if err := json.Unmarshal(raw, &nonce); err != nil {
			t.Fatalf("randomNonce() = %s: %v", raw, err)
		}
		checkNonce(t, nonce)
		if len(nonce) >= 15 {
			long++
		}
		seen[nonce] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct nonces in %d calls", len(seen), n)
	}
	// All 64 bits are used: a nonce below 10^14 has odds of about 2^-17.
	if long < n-2 {
		t.Errorf("only %d of %d nonces have 15 digits or more: not 64 random bits", long, n)
	}
}

// testInfo is a GET /api/eip712 answer.
func testInfo(chainID any) map[string]any {
	domain := map[string]any{"name": "castnet", "version": "1"}
	domainType := []any{
		map[string]any{"name": "name", "type": "string"},
		map[string]any{"name": "version", "type": "string"},
	}
	if chainID != nil {
		domain["chainId"] = chainID
		domainType = append(domainType, map[string]any{"name": "chainId", "type": "uint256"})
	}
	return map[string]any{
		"domain": domain,
		"types": map[string]any{
			"EIP712Domain": domainType,
			"Publish": []any{
				map[string]any{"name": "stream", "type": "string"},
				map[string]any{"name": "broadcaster", "type": "address"},
				map[string]any{"name": "expires", "type": "uint256"},
				map[string]any{"name": "maxPricePerPixel", "type": "uint256"},
				map[string]any{"name": "nonce", "type": "uint256"},
			},
		},
		"primaryType":      "Publish",
		"broadcaster":      "0x52908400098527886E0F7030069857D2E4169EE7",
		"requirePermit":    true,
		"maxPricePerPixel": "115792089237316195423570985008687907853269984665640564039457584007913129639935",
	}
}

func TestWalletPermitMessage(t *testing.T) {
	info := testInfo(nil)
	const now = 1_700_000_000_999 // ms: expires rounds the second down
	numeric := testInfo(nil)
	numeric["maxPricePerPixel"] = 1200
	none := testInfo(nil)
	delete(none, "maxPricePerPixel")
	results := runWallet(t, []call{
		{"permitMessage", []any{"cam-1", info, now, "42"}},
		{"permitMessage", []any{"cam-1", numeric, now}},
		{"permitMessage", []any{"cam-1", none, now}},
		{"permitMessageError", []any{"cam-1", map[string]any{"broadcaster": "0x0", "maxPricePerPixel": "-1"}, now}},
		{"permitMessageError", []any{"cam-1", map[string]any{"broadcaster": "0x0", "maxPricePerPixel": 1e30}, now}},
		{"checkInfo", []any{info}},
	})
	want := `{"stream":"cam-1","broadcaster":"0x52908400098527886E0F7030069857D2E4169EE7","expires":"1700003600",` +
		`"maxPricePerPixel":"115792089237316195423570985008687907853269984665640564039457584007913129639935","nonce":"42"}`
	if got := string(results[0]); got != want {
		t.Errorf("permitMessage with a given nonce\n got %s\nwant %s", got, want)
	}
	var m permitMessage
	if err := json.Unmarshal(results[1], &m); err != nil {
		t.Fatal(err)
	}
	if m.MaxPricePerPixel != "1200" || m.Expires != "1700003600" {
		t.Errorf("numbers are not decimal strings: %s", results[1])
	}
	checkNonce(t, m.Nonce)
	if err := json.Unmarshal(results[2], &m); err != nil || m.MaxPricePerPixel != "0" {
		t.Errorf("without a suggested price the permit caps at 0: %s", results[2])
	}
	for _, r := range results[3:5] {
		if !strings.Contains(string(r), "bad price per pixel") {
			t.Errorf("a price that is not a uint256 decimal: %s, want an error", r)
		}
	}
	if string(results[5]) == "null" {
		t.Errorf("checkInfo refused a good description")
	}
}

// TestWalletSignPermit: the wallet is asked eth_signTypedData_v4 with the
// node's domain and types as received and a fresh message, and the token
// carries that message and the wallet's signature.
func TestWalletSignPermit(t *testing.T) {
	const address = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"
	sig := "0x" + strings.Repeat("ab", 64) + "1b"
	answers := map[string]any{"eth_signTypedData_v4": sig, "eth_chainId": "0x1", "wallet_switchEthereumChain": nil}
	info := testInfo(nil)
	chain := testInfo(5)
	const now = 1_700_000_000_000
	results := runWallet(t, []call{
		{"signPermit", []any{answers, address, info, "cam-1", now}},
		{"signPermit", []any{answers, address, info, "cam-1", now}},
		{"signPermit", []any{answers, address, chain, "cam-1", now}},
	})
	type request struct {
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	type signed struct {
		Requests []request `json:"requests"`
		Result   struct {
			Message   permitMessage `json:"message"`
			Signature string        `json:"signature"`
			Token     string        `json:"token"`
		} `json:"result"`
	}
	var got [3]signed
	for i := range got {
		if err := json.Unmarshal(results[i], &got[i]); err != nil {
			t.Fatalf("signPermit: %s: %v", results[i], err)
		}
	}
	first := got[0]
	if len(first.Requests) != 1 || first.Requests[0].Method != "eth_signTypedData_v4" || len(first.Requests[0].Params) != 2 {
		t.Fatalf("requests %+v: want one eth_signTypedData_v4 [address, json]", first.Requests)
	}
	var addr, typedJSON string
	if err := json.Unmarshal(first.Requests[0].Params[0], &addr); err != nil || addr != address {
		t.Errorf("signing address %s, want %s", first.Requests[0].Params[0], address)
	}
	if err := json.Unmarshal(first.Requests[0].Params[1], &typedJSON); err != nil {
		t.Fatalf("typed data is not a JSON string: %s", first.Requests[0].Params[1])
	}
	var typed struct {
		Domain      map[string]any  `json:"domain"`
		Types       map[string]any  `json:"types"`
		PrimaryType string          `json:"primaryType"`
		Message     json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal([]byte(typedJSON), &typed); err != nil {
		t.Fatalf("typed data %s: %v", typedJSON, err)
	}
	wantTypes, _ := json.Marshal(info["types"])
	wantDomain, _ := json.Marshal(info["domain"])
	if b, _ := json.Marshal(typed.Types); string(b) != string(wantTypes) {
		t.Errorf("types %s, want the node's %s (EIP712Domain included)", b, wantTypes)
	}
	if b, _ := json.Marshal(typed.Domain); string(b) != string(wantDomain) {
		t.Errorf("domain %s, want the node's %s", b, wantDomain)
	}
	if typed.PrimaryType != "Publish" {
		t.Errorf("primaryType %q", typed.PrimaryType)
	}
	var signedMsg permitMessage
	if err := json.Unmarshal(typed.Message, &signedMsg); err != nil || signedMsg != first.Result.Message {
		t.Errorf("the wallet signed %s, the token carries %+v", typed.Message, first.Result.Message)
	}
	// Every uint256 travels as a decimal string, never a JSON number.
	var fields map[string]any
	_ = json.Unmarshal(typed.Message, &fields)
	for k, v := range fields {
		if _, ok := v.(string); !ok {
			t.Errorf("message field %s is %T, want a string", k, v)
		}
	}
	m := first.Result.Message
	if m.Stream != "cam-1" || m.Broadcaster != info["broadcaster"] || m.Expires != "1700003600" || m.MaxPricePerPixel != info["maxPricePerPixel"] {
		t.Errorf("message %+v", m)
	}
	checkNonce(t, m.Nonce)
	if got[1].Result.Message.Nonce == m.Nonce {
		t.Errorf("two permits share nonce %s: every Go live needs a fresh one", m.Nonce)
	}

	// The token is "eip712." + base64url(JSON {message, signature}).
	tok, ok := strings.CutPrefix(first.Result.Token, "eip712.")
	if !ok {
		t.Fatalf("token %q lacks the eip712. prefix", first.Result.Token)
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Errorf("token %q is not base64url without padding", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("token %q: %v", tok, err)
	}
	var body struct {
		Message   permitMessage `json:"message"`
		Signature string        `json:"signature"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || body.Message != m || body.Signature != sig {
		t.Errorf("token body %s (err %v), want message %+v and signature %s", raw, err, m, sig)
	}

	// A node that binds permits to chain 5 has a wallet on chain 1 switch first.
	var methods []string
	for _, r := range got[2].Requests {
		methods = append(methods, r.Method)
	}
	if want := "eth_chainId wallet_switchEthereumChain eth_signTypedData_v4"; strings.Join(methods, " ") != want {
		t.Errorf("requests on another chain: %v, want %s", methods, want)
	} else if p := string(got[2].Requests[1].Params[0]); p != `{"chainId":"0x5"}` {
		t.Errorf("switch to %s, want chain 0x5", p)
	}
}

func TestWalletErrors(t *testing.T) {
	const address = "0x8ba1f109551bD432803012645Ac136ddd64DBA72"
	rejected := map[string]any{"error": map[string]any{"code": 4001, "message": "User rejected the request."}}
	info := testInfo(nil)
	tests := []struct {
		name string
		call call
		want string
	}{
		{"connect rejected", call{"walletError", []any{"requestAccounts", map[string]any{"eth_requestAccounts": rejected}}},
			"You rejected the request in your wallet; nothing was signed."},
		{"no account", call{"walletError", []any{"requestAccounts", map[string]any{"eth_requestAccounts": []any{}}}},
			"The wallet returned no account."},
		{"request already open", call{"walletError", []any{"requestAccounts", map[string]any{
			"eth_requestAccounts": map[string]any{"error": map[string]any{"code": -32002, "message": "pending"}}}}},
			"Your wallet already has a request open: finish it in the wallet, then try again."},
		{"signing rejected", call{"walletError", []any{"signPermit", map[string]any{"eth_signTypedData_v4": rejected}, address, info, "s", 0}},
			"You rejected the request in your wallet; nothing was signed."},
		{"wallet without typed data", call{"walletError", []any{"signPermit", map[string]any{}, address, info, "s", 0}},
			"Your wallet cannot sign EIP-712 typed data (eth_signTypedData_v4)."},
		{"malformed signature", call{"walletError", []any{"signPermit", map[string]any{"eth_signTypedData_v4": "0x1234"}, address, info, "s", 0}},
			"The wallet returned a malformed signature."},
		{"wallet refuses to switch chain", call{"walletError", []any{"signPermit", map[string]any{"eth_chainId": "0x1",
			"wallet_switchEthereumChain": map[string]any{"error": map[string]any{"code": 4902, "message": "unknown chain"}}}, address, testInfo(5), "s", 0}},
			"This node signs permits for chain 5; switch your wallet to that network, then try again."},
		{"bad description", call{"walletError", []any{"signPermit", map[string]any{}, address, map[string]any{"domain": map[string]any{}}, "s", 0}},
			"The node sent no EIP-712 permit description."},
		{"other failure", call{"walletError", []any{"signPermit", map[string]any{"eth_signTypedData_v4": map[string]any{
			"error": map[string]any{"code": -32603, "message": "internal error"}}}, address, info, "s", 0}},
			"The wallet failed: internal error"},
	}
	calls := make([]call, len(tests))
	for i, tt := range tests {
		calls[i] = tt.call
	}
	results := runWallet(t, calls)
	for i, tt := range tests {
		want, _ := json.Marshal(tt.want)
		if got := string(results[i]); got != string(want) {
			t.Errorf("%s: got %s, want %s", tt.name, got, want)
		}
	}
	other := runWallet(t, []call{
		{"requestAccounts", []any{map[string]any{"eth_requestAccounts": []any{address, "0x0000000000000000000000000000000000000001"}}}},
		{"shortAddress", []any{address}},
	})
	if want := `"` + address + `"`; string(other[0]) != want {
		t.Errorf("requestAccounts = %s, want the first account %s", other[0], want)
	}
	if string(other[1]) != `"0x8ba1…BA72"` {
		t.Errorf("shortAddress = %s", other[1])
	}
}

// streamNameRE is the stream name syntax of the names package, which the
// pages' JavaScript must share.
var streamNameRE = regexp.MustCompile(names.StreamPattern)

// TestPagesUseTheOneStreamNamePattern: common.js writes the pattern out
// (the pages have no Go); it must be the names package's.
func TestPagesUseTheOneStreamNamePattern(t *testing.T) {
	js, err := staticFS.ReadFile("static/common.js")
	if err != nil {
		t.Fatal(err)
	}
	if want := "const STREAM_NAME_RE = /" + names.StreamPattern + "/;"; !strings.Contains(string(js), want) {
		t.Errorf("common.js does not say %s", want)
	}
}
