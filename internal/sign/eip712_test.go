package sign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// testKey is the key with private key 1 (address 0x7E5F…5Bdf).
func testKey(t testing.TB) Key {
	t.Helper()
	k, err := ParsePrivateKey("0x0000000000000000000000000000000000000000000000000000000000000001")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func samplePermit() Permit {
	return Permit{
		Stream:           "cam",
		Broadcaster:      common.HexToAddress("0xe93a9C31D153385Bd18dea5E34784F069825D544"),
		Expires:          big.NewInt(1795600800), // 2026-11-25T10:00:00Z
		MaxPricePerPixel: big.NewInt(1200),
		Nonce:            big.NewInt(1),
	}
}

func sampleSegment() Segment {
	return Segment{
		Stream:     "cam",
		Seq:        12,
		DurationMs: 2000,
		Hash:       Keccak([]byte("segment 12 bytes")),
		Profiles:   Keccak([]byte(`[{"name":"240p30"}]`)),
		Permit:     PermitDigest(DefaultDomain(), samplePermit()),
	}
}

func sampleResult() TranscodeResult {
	return TranscodeResult{
		Segment:    Keccak([]byte("segment 12 bytes")),
		Renditions: []common.Hash{Keccak([]byte("240p")), Keccak([]byte("360p"))},
		Pixels:     1234567,
		Transcoder: common.HexToAddress("0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"),
	}
}

func sampleReceipt() TranscodeReceipt {
	r := sampleResult()
	return TranscodeReceipt{
		Segment:      r.Segment,
		Renditions:   r.Renditions,
		Pixels:       r.Pixels,
		Orchestrator: common.HexToAddress("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"),
		Transcoder:   r.Transcoder,
	}
}

func sampleRecords() []Record {
	return []Record{samplePermit(), sampleSegment(), sampleResult(), sampleReceipt()}
}

// word is v as a 32-byte big-endian word.
func word(v *big.Int) []byte { return common.LeftPadBytes(v.Bytes(), 32) }

// TestDigestByHand computes the EIP-712 digests of a permit and a
// transcode result from the specification, independently of apitypes.
func TestDigestByHand(t *testing.T) {
	kc := crypto.Keccak256
	domainSep := func(d Domain) []byte {
		enc := [][]byte{kc([]byte("EIP712Domain(string name,string version)")), kc([]byte(d.Name)), kc([]byte(d.Version))}
		if d.ChainID != nil {
			enc[0] = kc([]byte("EIP712Domain(string name,string version,uint256 chainId)"))
			enc = append(enc, word(d.ChainID))
		}
		return kc(enc...)
	}
	for _, d := range []Domain{DefaultDomain(), DefaultDomain().WithChainID(big.NewInt(42161))} {
		p := samplePermit()
		ph := kc(kc([]byte("Publish(string stream,address broadcaster,uint256 expires,uint256 maxPricePerPixel,uint256 nonce)")),
			kc([]byte(p.Stream)), common.LeftPadBytes(p.Broadcaster[:], 32), word(p.Expires), word(p.MaxPricePerPixel), word(p.Nonce))
		want := common.BytesToHash(kc([]byte{0x19, 0x01}, domainSep(d), ph))
		if got, err := Digest(d, p); err != nil || got != want {
			t.Errorf("permit digest under %+v: %s %v, want %s", d, got, err, want)
		}

		r := sampleResult()
		var rend []byte
		for _, h := range r.Renditions {
			rend = append(rend, h[:]...)
		}
		rh := kc(kc([]byte("TranscodeResult(bytes32 segment,bytes32[] renditions,uint256 pixels,address transcoder)")),
			r.Segment[:], kc(rend), word(new(big.Int).SetUint64(r.Pixels)), common.LeftPadBytes(r.Transcoder[:], 32))
		want = common.BytesToHash(kc([]byte{0x19, 0x01}, domainSep(d), rh))
		if got, err := Digest(d, r); err != nil || got != want {
			t.Errorf("result digest under %+v: %s %v, want %s", d, got, err, want)
		}
	}
}

// TestKnownAnswers pins digests and signatures (the permit's equals the
// ethers vector "permit basic, no chainId").
func TestKnownAnswers(t *testing.T) {
	k := testKey(t)
	d := DefaultDomain()
	h, err := Digest(d, samplePermit())
	if err != nil {
		t.Fatal(err)
	}
	if want := "0x5791dd0ee22f5d63cd2eb6f9a28550dad8945d684ad87652c08e9484209e81cd"; h.Hex() != want {
		t.Fatalf("permit digest %s, want %s", h.Hex(), want)
	}
	sig, err := SignRecord(k, d, samplePermit())
	if err != nil {
		t.Fatal(err)
	}
	if want := "516232f6704ca899046599ab9fce0e2dd5ec46004aae0e09dba4e69b1a1272f423b4f238b16c72482943927f1676433772d02304cfa77066c2bc157828afe8fc1c"; common.Bytes2Hex(sig) != want {
		t.Fatalf("permit signature %x, want %s", sig, want)
	}
	types := map[string]string{}
	for _, r := range sampleRecords() {
		td := TypedData(d, r)
		types[r.PrimaryType()] = string(td.EncodeType(r.PrimaryType()))
	}
	want := map[string]string{
		"Publish":          "Publish(string stream,address broadcaster,uint256 expires,uint256 maxPricePerPixel,uint256 nonce)",
		"Segment":          "Segment(string stream,uint256 seq,uint256 durationMs,bytes32 hash,bytes32 profiles,bytes32 permit)",
		"TranscodeResult":  "TranscodeResult(bytes32 segment,bytes32[] renditions,uint256 pixels,address transcoder)",
		"TranscodeReceipt": "TranscodeReceipt(bytes32 segment,bytes32[] renditions,uint256 pixels,address orchestrator,address transcoder)",
	}
	for name, enc := range want {
		if types[name] != enc {
			t.Errorf("type %s encodes as %q, want %q", name, types[name], enc)
		}
	}
}

func TestDomain(t *testing.T) {
	d := DefaultDomain()
	if d.Name != "castnet" || d.Version != "1" || d.ChainID != nil {
		t.Fatalf("default domain %+v", d)
	}
	names := func(ts []apitypes.Type) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.Type+" "+t.Name)
		}
		return strings.Join(s, ",")
	}
	if got := names(d.Types()); got != "string name,string version" {
		t.Errorf("default domain types %s", got)
	}
	id := big.NewInt(42161)
	dc := d.WithChainID(id)
	id.SetInt64(1) // WithChainID copies
	if got := names(dc.Types()); got != "string name,string version,uint256 chainId" || dc.ChainID.Int64() != 42161 {
		t.Errorf("chain domain types %s, chainId %v", got, dc.ChainID)
	}
	for d, want := range map[*Domain]string{
		&d:  `{"name":"castnet","version":"1"}`,
		&dc: `{"name":"castnet","version":"1","chainId":42161}`,
		{ChainID: new(big.Int).Lsh(big.NewInt(1), 64)}: `{"chainId":"18446744073709551616"}`,
	} {
		b, err := json.Marshal(*d)
		if err != nil || string(b) != want {
			t.Errorf("domain JSON %s %v, want %s", b, err, want)
		}
	}
	for in, want := range map[string]string{
		`{"name":"castnet","version":"1"}`:                 `{"name":"castnet","version":"1"}`,
		`{"chainId":42161,"version":"1","name":"castnet"}`: `{"name":"castnet","version":"1","chainId":42161}`,
		`{"name":"castnet","chainId":"42161"}`:             `{"name":"castnet","chainId":42161}`,
		`{"chainId":"9007199254740992"}`:                   `{"chainId":"9007199254740992"}`,
		`{"chainId":0}`:                                    `{"chainId":0}`,
		`{}`:                                               "no field",
		`{"name":""}`:                                      "is empty",
		`{"name":"castnet","verifyingContract":"0x"}`:      `unknown field "verifyingContract"`,
		`{"name":"castnet","chainId":-1}`:                  "negative",
		`{"name":"castnet","chainId":1.5}`:                 "not a decimal integer",
		`{"name":"castnet","chainId":1e3}`:                 "not a decimal integer",
		`{"name":"castnet","chainId":"0x1"}`:               "not a decimal integer",
		`{"name":"castnet","chainId":01}`:                  "invalid character",
		`{"name":"castnet","chainId":null}`:                "got null",
		`{"name":"castnet","name":"x"}`:                    "given twice",
		`{"name":1}`:                                       "must be a string",
		`{"chainId":"115792089237316195423570985008687907853269984665640564039457584007913129639936"}`: "wider than 256 bits",
	} {
		var got Domain
		err := json.Unmarshal([]byte(in), &got)
		if strings.HasPrefix(want, "{") {
			out, _ := json.Marshal(got)
			if err != nil || string(out) != want {
				t.Errorf("domain %s read as %s (%v), want %s", in, out, err, want)
			}
		} else if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("domain %s: error %v, want %q", in, err, want)
		}
	}
	a, _ := Digest(d, samplePermit())
	b, _ := Digest(dc, samplePermit())
	c, _ := Digest(Domain{Name: "castnet", Version: "2"}, samplePermit())
	if a == b || a == c || b == c {
		t.Error("domains do not separate digests")
	}
	if _, err := Digest(Domain{}, samplePermit()); !errors.Is(err, ErrRecord) {
		t.Errorf("empty domain: %v", err)
	}
	if _, err := Digest(d.WithChainID(big.NewInt(-1)), samplePermit()); !errors.Is(err, ErrRecord) {
		t.Errorf("negative chainId: %v", err)
	}
}

func TestSignRecordRoundTrip(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Domain{DefaultDomain(), DefaultDomain().WithChainID(big.NewInt(1))} {
		for _, r := range sampleRecords() {
			sig, err := SignRecord(k, d, r)
			if err != nil {
				t.Fatalf("%s: %v", r.PrimaryType(), err)
			}
			if len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
				t.Fatalf("%s: signature %x", r.PrimaryType(), sig)
			}
			got, err := RecordSigner(d, r, sig)
			if err != nil || got != k.Address {
				t.Fatalf("%s: signer %s %v, want %s", r.PrimaryType(), got, err, k.Address)
			}
		}
	}
}

// tampered returns copies of r with each field changed in turn.
func tampered(r Record) map[string]Record {
	// inc changes a uint256 while keeping it in range.
	inc := func(v *big.Int) *big.Int { return new(big.Int).Xor(v, big.NewInt(1)) }
	flip := func(h common.Hash) common.Hash { h[31] ^= 1; return h }
	flipA := func(a common.Address) common.Address { a[0] ^= 1; return a }
	out := map[string]Record{}
	switch v := r.(type) {
	case Permit:
		c := v
		c.Stream += "x"
		if len(c.Stream) > MaxStreamLen {
			c.Stream = v.Stream[:len(v.Stream)-1]
		}
		out["stream"] = c
		c = v
		c.Broadcaster = flipA(c.Broadcaster)
		out["broadcaster"] = c
		c = v
		c.Expires = inc(c.Expires)
		out["expires"] = c
		c = v
		c.MaxPricePerPixel = inc(c.MaxPricePerPixel)
		out["maxPricePerPixel"] = c
		c = v
		c.Nonce = inc(c.Nonce)
		out["nonce"] = c
	case Segment:
		c := v
		c.Stream = v.Stream + "x"
		out["stream"] = c
		c = v
		c.Seq ^= 1
		out["seq"] = c
		c = v
		c.DurationMs ^= 1
		out["durationMs"] = c
		c = v
		c.Hash = flip(c.Hash)
		out["hash"] = c
		c = v
		c.Profiles = flip(c.Profiles)
		out["profiles"] = c
		c = v
		c.Permit = flip(c.Permit)
		out["permit"] = c
	case TranscodeResult:
		c := v
		c.Segment = flip(c.Segment)
		out["segment"] = c
		c = v
		c.Renditions = append(append([]common.Hash{}, v.Renditions...), common.Hash{})
		out["renditions added"] = c
		if n := len(v.Renditions); n >= 2 {
			c = v
			c.Renditions = append([]common.Hash{v.Renditions[n-1]}, v.Renditions[:n-1]...)
			out["renditions order"] = c
		}
		c = v
		c.Pixels ^= 1
		out["pixels"] = c
		c = v
		c.Transcoder = flipA(c.Transcoder)
		out["transcoder"] = c
	case TranscodeReceipt:
		c := v
		c.Segment = flip(c.Segment)
		out["segment"] = c
		if n := len(v.Renditions); n > 0 {
			c = v
			c.Renditions = append([]common.Hash{}, v.Renditions...)
			c.Renditions[n-1] = flip(c.Renditions[n-1])
			out["renditions"] = c
			c = v
			c.Renditions = v.Renditions[:n-1]
			out["renditions dropped"] = c
		} else {
			c = v
			c.Renditions = []common.Hash{{}}
			out["renditions added"] = c
		}
		c = v
		c.Pixels ^= 1
		out["pixels"] = c
		c = v
		c.Orchestrator = flipA(c.Orchestrator)
		out["orchestrator"] = c
		c = v
		c.Transcoder = flipA(c.Transcoder)
		out["transcoder"] = c
	}
	return out
}

func TestTampering(t *testing.T) {
	k := testKey(t)
	d := DefaultDomain()
	for _, r := range sampleRecords() {
		sig, err := SignRecord(k, d, r)
		if err != nil {
			t.Fatal(err)
		}
		changes := tampered(r)
		if len(changes) < len(r.Types()) {
			t.Fatalf("%s: only %d of %d fields tampered", r.PrimaryType(), len(changes), len(r.Types()))
		}
		for field, c := range changes {
			if got, err := RecordSigner(d, c, sig); err == nil && got == k.Address {
				t.Errorf("%s with %s changed still verifies", r.PrimaryType(), field)
			}
		}
		for _, od := range []Domain{d.WithChainID(big.NewInt(1)), {Name: "castnet", Version: "2"}, {Name: "livepeer", Version: "1"}} {
			if got, err := RecordSigner(od, r, sig); err == nil && got == k.Address {
				t.Errorf("%s verifies under domain %+v", r.PrimaryType(), od)
			}
		}
	}
}

// secp256k1N is the order of the curve.
var secp256k1N = crypto.S256().Params().N

func TestSignatureForms(t *testing.T) {
	k := testKey(t)
	d := DefaultDomain()
	p := samplePermit()
	sig, err := SignRecord(k, d, p)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, s []byte, ok bool) {
		t.Helper()
		got, err := RecordSigner(d, p, s)
		if ok && (err != nil || got != k.Address) {
			t.Errorf("%s: refused: %s %v", name, got, err)
		}
		if !ok && !errors.Is(err, ErrSignature) {
			t.Errorf("%s: accepted (%s, %v)", name, got, err)
		}
	}
	check("v 27/28", sig, true)
	zero := bytes.Clone(sig)
	zero[64] -= 27
	check("v 0/1", zero, true)

	// The high-s twin (s' = N − s, v flipped) is a valid ECDSA signature of
	// the same digest by the same key; EIP-2 refuses it.
	twin := bytes.Clone(sig)
	s := new(big.Int).SetBytes(sig[32:64])
	new(big.Int).Sub(secp256k1N, s).FillBytes(twin[32:64])
	twin[64] = 55 - sig[64] // 27 ↔ 28
	check("high-s twin", twin, false)
	twin[64] -= 27
	check("high-s twin, v 0/1", twin, false)

	check("64 bytes", sig[:64], false)
	check("66 bytes", append(bytes.Clone(sig), 0), false)
	check("empty", nil, false)
	for _, v := range []byte{2, 26, 29, 35} {
		bad := bytes.Clone(sig)
		bad[64] = v
		check(fmt.Sprintf("v %d", v), bad, false)
	}
	zeroR := bytes.Clone(sig)
	clear(zeroR[:32])
	check("r = 0", zeroR, false)
}

func TestRecordCheck(t *testing.T) {
	k := testKey(t)
	d := DefaultDomain()
	p := samplePermit()
	bad := map[string]Permit{}
	c := p
	c.Expires = nil
	bad["nil expires"] = c
	c = p
	c.Nonce = big.NewInt(-1)
	bad["negative nonce"] = c
	c = p
	c.MaxPricePerPixel = new(big.Int).Lsh(big.NewInt(1), 256)
	bad["257-bit price"] = c
	c = p
	c.Stream = "\xff"
	bad["invalid UTF-8"] = c
	c = p
	c.Stream = strings.Repeat("a", MaxStreamLen+1)
	bad["long stream"] = c
	for name, c := range bad {
		if _, err := SignRecord(k, d, c); !errors.Is(err, ErrRecord) {
			t.Errorf("%s: signed (%v)", name, err)
		}
		if _, err := json.Marshal(c); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
	if _, err := SignRecord(k, d, Segment{Stream: "\xc3"}); !errors.Is(err, ErrRecord) {
		t.Errorf("segment with invalid UTF-8 signed: %v", err)
	}
	if _, err := SignRecord(Key{}, d, p); err == nil {
		t.Error("signed without a key")
	}
	if got := PermitDigest(d, bad["nil expires"]); got != (common.Hash{}) {
		t.Errorf("digest of a bad permit %s, want zero", got)
	}
	// A segment without renditions is fine: an empty array.
	if _, err := SignRecord(k, d, TranscodeResult{}); err != nil {
		t.Errorf("empty result: %v", err)
	}
}

// TestPublishRequest: the served JSON plus a message is typed data that
// go-ethereum (as a wallet would) parses and hashes to Digest.
func TestPublishRequest(t *testing.T) {
	b := common.HexToAddress("0xe93a9c31d153385bd18dea5e34784f069825d544")
	for _, d := range []Domain{DefaultDomain(), DefaultDomain().WithChainID(big.NewInt(42161))} {
		if _, ok := PublishRequest(d, b).(map[string]any); !ok {
			t.Fatal("PublishRequest is not a map[string]any (handlers add keys to it)")
		}
		raw, err := json.Marshal(PublishRequest(d, b))
		if err != nil {
			t.Fatal(err)
		}
		var req map[string]any
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatal(err)
		}
		if req["primaryType"] != "Publish" || req["broadcaster"] != "0xe93a9C31D153385Bd18dea5E34784F069825D544" {
			t.Fatalf("request %s", raw)
		}
		types := req["types"].(map[string]any)
		if len(types) != 2 || len(types["EIP712Domain"].([]any)) != len(d.Types()) || len(types["Publish"].([]any)) != 5 {
			t.Fatalf("types %s", raw)
		}
		p := samplePermit()
		req["message"] = p.toJSON()
		full, _ := json.Marshal(req)
		var td apitypes.TypedData
		if err := json.Unmarshal(full, &td); err != nil {
			t.Fatalf("wallet form %s: %v", full, err)
		}
		got, _, err := apitypes.TypedDataAndHash(td)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Digest(d, p)
		if common.BytesToHash(got) != want {
			t.Errorf("wallet digest %x, want %s (%s)", got, want, full)
		}
	}
}
