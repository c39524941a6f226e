package sign

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseToken: ParseToken never panics, and whatever it accepts
// re-encodes to a token that parses to the same permit and signature.
func FuzzParseToken(f *testing.F) {
	k := testKey(f)
	p := samplePermit()
	sig, err := SignRecord(k, DefaultDomain(), p)
	if err != nil {
		f.Fatal(err)
	}
	tok := EncodeToken(p, sig)
	f.Add(tok)
	f.Add(tok + "==")
	f.Add(tok[:len(tok)-3])
	f.Add("eip712.")
	f.Add("eip712.e30")
	p.Stream = "カメラ \u2028 <&>"
	f.Add(EncodeToken(p, sig))
	sig2 := append([]byte{}, sig...)
	sig2[64] -= 27
	f.Add(EncodeToken(p, sig2))
	msg := `{"stream":"cam","broadcaster":"0xe93a9c31d153385bd18dea5e34784f069825d544","expires":"1","maxPricePerPixel":"0","nonce":"7"}`
	f.Add(tokenOf(`{"signature":"0x` + strings.Repeat("AB", 65) + `","message":` + msg + `}`))
	f.Add(tokenOf(`{"message":{"stream":"\u0000\ud800\"","broadcaster":"0xE93A9C31D153385BD18DEA5E34784F069825D544","expires":"0","maxPricePerPixel":"1","nonce":1},"signature":"0x"}`))

	f.Fuzz(func(t *testing.T, s string) {
		p, sig, err := ParseToken(s)
		if err != nil {
			return
		}
		if err := p.Check(); err != nil {
			t.Fatalf("accepted a permit Check refuses: %v", err)
		}
		again := EncodeToken(p, sig)
		p2, sig2, err := ParseToken(again)
		if err != nil {
			t.Fatalf("re-encoded token %q refused: %v", again, err)
		}
		if !bytes.Equal(sig, sig2) || p.Stream != p2.Stream || p.Broadcaster != p2.Broadcaster ||
			p.Expires.Cmp(p2.Expires) != 0 || p.MaxPricePerPixel.Cmp(p2.MaxPricePerPixel) != 0 || p.Nonce.Cmp(p2.Nonce) != 0 {
			t.Fatalf("round trip changed %+v %x into %+v %x", p, sig, p2, sig2)
		}
		if EncodeToken(p2, sig2) != again {
			t.Fatal("encoding is not canonical")
		}
	})
}

// FuzzRecordJSON: each record's JSON reader never panics, and what it
// accepts marshals to a canonical form that reads back to the same record
// (same digest, same bytes).
func FuzzRecordJSON(f *testing.F) {
	for i, r := range sampleRecords() {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	zero := `"0x` + strings.Repeat("0", 64) + `"`
	f.Add(uint8(0), []byte(`{"stream":"\ud83d\udcf7","broadcaster":"0xE93A9C31D153385BD18DEA5E34784F069825D544","expires":"115792089237316195423570985008687907853269984665640564039457584007913129639935","maxPricePerPixel":"0","nonce":"0"}`))
	f.Add(uint8(1), []byte(`{"stream":"","seq":"18446744073709551615","durationMs":"0","hash":`+zero+`,"profiles":`+zero+`,"permit":`+zero+`}`))
	f.Add(uint8(2), []byte(`{"segment":`+zero+`,"renditions":[],"pixels":"0","transcoder":"0x0000000000000000000000000000000000000000"}`))
	f.Add(uint8(3), []byte(`{"segment":`+zero+`,"renditions":[`+zero+`],"pixels":"1","orchestrator":"0x0000000000000000000000000000000000000000","transcoder":"0x0000000000000000000000000000000000000000","x":1}`))

	f.Add(uint8(4), []byte(`{"name":"castnet","version":"1","chainId":42161}`))
	f.Add(uint8(4), []byte(`{"chainId":"18446744073709551617"}`))

	records := sampleRecords()
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		if int(kind)%(len(records)+1) == len(records) {
			fuzzDomainJSON(t, data)
			return
		}
		r := newRecord(records[int(kind)%(len(records)+1)])
		if err := json.Unmarshal(data, r); err != nil {
			return
		}
		v := deref(r)
		d1, err := Digest(DefaultDomain(), v)
		if err != nil {
			t.Fatalf("accepted a record that does not hash: %v", err)
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted a record that does not marshal: %v", err)
		}
		r2 := newRecord(v)
		if err := json.Unmarshal(out, r2); err != nil {
			t.Fatalf("own JSON %s refused: %v", out, err)
		}
		if d2, _ := Digest(DefaultDomain(), deref(r2)); d2 != d1 {
			t.Fatalf("round trip through %s changed the digest", out)
		}
		if out2, _ := json.Marshal(deref(r2)); !bytes.Equal(out, out2) {
			t.Fatalf("JSON form not canonical: %s then %s", out, out2)
		}
	})
}

// fuzzDomainJSON: a domain that reads marshals canonically and reads back
// the same.
func fuzzDomainJSON(t *testing.T, data []byte) {
	var d Domain
	if err := json.Unmarshal(data, &d); err != nil {
		return
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("accepted a domain that does not marshal: %v", err)
	}
	var d2 Domain
	if err := json.Unmarshal(out, &d2); err != nil {
		t.Fatalf("own JSON %s refused: %v", out, err)
	}
	h1, err1 := Digest(d, samplePermit())
	h2, err2 := Digest(d2, samplePermit())
	if err1 != nil || err2 != nil || h1 != h2 {
		t.Fatalf("domain round trip through %s: %v %v", out, err1, err2)
	}
}
