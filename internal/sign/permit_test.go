package sign

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// tokenOf builds a token around an arbitrary JSON body.
func tokenOf(body string) string {
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(body))
}

func TestTokenRoundTrip(t *testing.T) {
	k := testKey(t)
	p := samplePermit()
	p.Stream = "カメラ <&> \u2028"
	sig, err := SignRecord(k, DefaultDomain(), p)
	if err != nil {
		t.Fatal(err)
	}
	tok := EncodeToken(p, sig)
	if !strings.HasPrefix(tok, "eip712.") || strings.ContainsAny(tok, "=+/") {
		t.Fatalf("token %s", tok)
	}
	body, err := base64.RawURLEncoding.DecodeString(tok[len(TokenPrefix):])
	if err != nil {
		t.Fatal(err)
	}
	wantBody := `{"message":{"stream":"カメラ <&> \u2028","broadcaster":"0xe93a9C31D153385Bd18dea5E34784F069825D544","expires":"1795600800","maxPricePerPixel":"1200","nonce":"1"},"signature":"0x` + common.Bytes2Hex(sig) + `"}`
	if string(body) != wantBody {
		t.Errorf("token body\n got %s\nwant %s", body, wantBody)
	}
	for _, variant := range []string{tok, TokenPrefix + base64.URLEncoding.EncodeToString(body)} {
		gp, gsig, err := ParseToken(variant)
		if err != nil {
			t.Fatalf("%s: %v", variant, err)
		}
		if !bytes.Equal(gsig, sig) || gp.Stream != p.Stream || gp.Broadcaster != p.Broadcaster ||
			gp.Expires.Cmp(p.Expires) != 0 || gp.MaxPricePerPixel.Cmp(p.MaxPricePerPixel) != 0 || gp.Nonce.Cmp(p.Nonce) != 0 {
			t.Errorf("parsed %+v %x", gp, gsig)
		}
	}
	// A wallet's upper-case signature hex and key order do not matter.
	msg := `{"stream":"cam","broadcaster":"0xe93a9c31d153385bd18dea5e34784f069825d544","expires":"1","maxPricePerPixel":"0","nonce":"7"}`
	if _, _, err := ParseToken(tokenOf(`{"signature":"0x` + strings.ToUpper(common.Bytes2Hex(sig)) + `","message":` + msg + `}`)); err != nil {
		t.Errorf("reordered token: %v", err)
	}
}

func TestParseTokenErrors(t *testing.T) {
	sig := "0x" + strings.Repeat("11", 65)
	msg := `{"stream":"cam","broadcaster":"0xe93a9C31D153385Bd18dea5E34784F069825D544","expires":"1795600800","maxPricePerPixel":"1200","nonce":"1"}`
	good := tokenOf(`{"message":` + msg + `,"signature":"` + sig + `"}`)
	if _, _, err := ParseToken(good); err != nil {
		t.Fatalf("good token: %v", err)
	}
	withMsg := func(m string) string { return tokenOf(`{"message":` + m + `,"signature":"` + sig + `"}`) }
	for _, c := range []struct{ name, tok, why string }{
		{"empty", "", "does not start with"},
		{"jwt", "eyJhbGciOiJIUzI1NiJ9.e30.x", "does not start with"},
		{"too long", TokenPrefix + strings.Repeat("A", MaxTokenLen), "at most 4096"},
		{"std base64", TokenPrefix + "ab+/", "not base64url"},
		{"newline", good[:20] + "\n" + good[20:], "not base64url"},
		{"bad padding", good + "===", "not base64url"},
		{"base64 length", TokenPrefix + "e", "not base64url"},
		{"non-canonical base64", TokenPrefix + "e31", "not base64url"},
		{"canonical base64", TokenPrefix + "e30", `missing field "message"`},
		{"not JSON", tokenOf("hello"), "invalid character"},
		{"array", tokenOf("[]"), "want a JSON object"},
		{"missing signature", tokenOf(`{"message":` + msg + `}`), `missing field "signature"`},
		{"missing message", tokenOf(`{"signature":"` + sig + `"}`), `missing field "message"`},
		{"extra field", tokenOf(`{"message":` + msg + `,"signature":"` + sig + `","domain":{}}`), `unknown field "domain"`},
		{"message not object", withMsg(`"x"`), "want a JSON object"},
		{"missing nonce", withMsg(`{"stream":"cam","broadcaster":"0xe93a9C31D153385Bd18dea5E34784F069825D544","expires":"1","maxPricePerPixel":"1"}`), `missing field "nonce"`},
		{"number", withMsg(strings.Replace(msg, `"expires":"1795600800"`, `"expires":1795600800`, 1)), "must be decimal strings"},
		{"negative", withMsg(strings.Replace(msg, `"nonce":"1"`, `"nonce":"-1"`, 1)), "negative"},
		{"too wide", withMsg(strings.Replace(msg, `"nonce":"1"`, `"nonce":"`+new(big.Int).Lsh(big.NewInt(1), 256).String()+`"`, 1)), "wider than 256 bits"},
		{"long stream", withMsg(strings.Replace(msg, `"cam"`, `"`+strings.Repeat("a", MaxStreamLen+1)+`"`, 1)), "at most 1024"},
		{"sig 64 bytes", tokenOf(`{"message":` + msg + `,"signature":"0x` + strings.Repeat("11", 64) + `"}`), "signature is 64 bytes, want 65"},
		{"sig 66 bytes", tokenOf(`{"message":` + msg + `,"signature":"0x` + strings.Repeat("11", 66) + `"}`), "signature is 66 bytes, want 65"},
		{"sig no 0x", tokenOf(`{"message":` + msg + `,"signature":"` + strings.Repeat("11", 65) + `"}`), "0x"},
		{"sig not hex", tokenOf(`{"message":` + msg + `,"signature":"0x` + strings.Repeat("zz", 65) + `"}`), "not hex"},
		{"sig number", tokenOf(`{"message":` + msg + `,"signature":5}`), "must be a string"},
	} {
		_, _, err := ParseToken(c.tok)
		if !errors.Is(err, ErrToken) {
			t.Errorf("%s: %v is not ErrToken", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.why)
		}
	}
}

func TestCheckPermit(t *testing.T) {
	pub := testKey(t)
	d := DefaultDomain()
	p := samplePermit()
	sig, err := SignRecord(pub, d, p)
	if err != nil {
		t.Fatal(err)
	}
	tok := EncodeToken(p, sig)
	want := PermitPolicy{Broadcaster: p.Broadcaster, Stream: "cam", Now: time.Date(2026, 11, 25, 9, 59, 59, 0, time.UTC)}
	got, gp, err := CheckPermit(d, tok, want)
	if err != nil || got != pub.Address || gp.Nonce.Int64() != 1 {
		t.Fatalf("good permit: %s %+v %v", got, gp, err)
	}

	highS := bytes.Clone(sig)
	new(big.Int).Sub(secp256k1N, new(big.Int).SetBytes(sig[32:64])).FillBytes(highS[32:64])
	highS[64] = 55 - sig[64]
	badV := bytes.Clone(sig)
	badV[64] = 30

	other := want
	other.Broadcaster = common.HexToAddress("0x01")
	otherStream := want
	otherStream.Stream = "cam2"
	atExpiry := want
	atExpiry.Now = time.Unix(1795600800, 0)
	later := want
	later.Now = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

	for _, c := range []struct {
		name  string
		d     Domain
		tok   string
		want  PermitPolicy
		class error
		why   string
	}{
		{"malformed", d, "eip712.!!", want, ErrUnauthorized, "not base64url"},
		{"not a permit", d, "Bearer xyz", want, ErrUnauthorized, "does not start with"},
		{"high-s", d, EncodeToken(p, highS), want, ErrUnauthorized, "high-s"},
		{"bad v", d, EncodeToken(p, badV), want, ErrUnauthorized, "v is 30"},
		{"other broadcaster", d, tok, other, ErrForbidden, "permit is for broadcaster 0xe93a9C31D153385Bd18dea5E34784F069825D544"},
		{"other stream", d, tok, otherStream, ErrForbidden, `permit is for stream "cam", not "cam2"`},
		{"at expiry", d, tok, atExpiry, ErrForbidden, "permit expired at 2026-11-25T10:00:00Z"},
		{"expired", d, tok, later, ErrForbidden, "permit expired at 2026-11-25T10:00:00Z"},
	} {
		_, _, err := CheckPermit(c.d, c.tok, c.want)
		if !errors.Is(err, c.class) {
			t.Errorf("%s: %v, want %v", c.name, err, c.class)
			continue
		}
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.why)
		}
	}
	if _, _, err := CheckPermit(d, "x", want); !errors.Is(err, ErrToken) {
		t.Errorf("malformed token error %v does not wrap ErrToken", err)
	}
	if _, _, err := CheckPermit(d, EncodeToken(p, highS), want); !errors.Is(err, ErrSignature) {
		t.Errorf("high-s error %v does not wrap ErrSignature", err)
	}

	// Another domain, or a tampered permit, recovers someone else: not an
	// error here (any valid signature names some address), but not pub.
	for name, tk := range map[string]string{
		"chain domain": tok,
		"tampered cap": EncodeToken(Permit{Stream: p.Stream, Broadcaster: p.Broadcaster, Expires: p.Expires, MaxPricePerPixel: big.NewInt(1201), Nonce: p.Nonce}, sig),
	} {
		dd := d
		if name == "chain domain" {
			dd = d.WithChainID(big.NewInt(1))
		}
		got, _, err := CheckPermit(dd, tk, want)
		if err == nil && got == pub.Address {
			t.Errorf("%s: recovered the publisher", name)
		}
	}

	// The zero Now means the clock: a permit expiring far ahead passes.
	far := p
	far.Expires = new(big.Int).Lsh(big.NewInt(1), 255)
	fsig, _ := SignRecord(pub, d, far)
	if _, _, err := CheckPermit(d, EncodeToken(far, fsig), PermitPolicy{Broadcaster: p.Broadcaster, Stream: "cam"}); err != nil {
		t.Errorf("far expiry with the clock: %v", err)
	}
	// A v of 0/1 (some hardware wallets) is fine.
	zv := bytes.Clone(sig)
	zv[64] -= 27
	if got, _, err := CheckPermit(d, EncodeToken(p, zv), want); err != nil || got != pub.Address {
		t.Errorf("v 0/1: %s %v", got, err)
	}
}
