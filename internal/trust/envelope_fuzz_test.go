package trust

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
)

// FuzzDecodeAnswer: decoding any header value as an Answer or a Sealed
// record, and opening what it holds, never panics; a value that decodes
// re-encodes to one that decodes to the same thing.
func FuzzDecodeAnswer(f *testing.F) {
	k, err := sign.NewKey()
	if err != nil {
		f.Fatal(err)
	}
	d := sign.DefaultDomain().WithChainID(big.NewInt(31337))
	sealOrFail := func(r record) Sealed {
		s, err := seal(k, d, r)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	rends := []common.Hash{{2}, {3}}
	rc := sealOrFail(sign.TranscodeReceipt{Segment: common.Hash{1}, Renditions: rends, Pixels: 99, Orchestrator: k.Address, Transcoder: k.Address})
	res := sealOrFail(sign.TranscodeResult{Segment: common.Hash{1}, Renditions: rends, Pixels: 99, Transcoder: k.Address})
	seg := sealOrFail(sign.Segment{Stream: "cam", Seq: 4, DurationMs: 2000, Hash: common.Hash{1}})
	for _, v := range []any{Answer{Receipt: rc, Result: res}, rc, res, seg, Answer{}, Sealed{}} {
		h, err := encodeHeader(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(h)
		f.Add(h + "==")
	}
	for _, js := range []string{
		`{}`, `null`, `[]`, `{"record":null,"signature":null}`, `{"RECORD":{},"Signature":"0x00"}`,
		`{"record": { "a" : [1, 2] } , "signature":"0x"}`, `{"receipt":{},"result":{"record":"<&>"}}`,
		`{"record":{}}{}`, `{"record":{}} `, `{"receipt":{"record":1},"receipt":{"record":2}}`,
		`{"receipt":{"record":{"segment":"0x01"},"signature":"0x1"}}`, `{"record":"\ud800"}`,
	} {
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(js)))
	}
	// Near the size bound: escapes and defaulted fields grow the encoding.
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"record":"` + strings.Repeat("<", 6000) + `"}`)))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"record":[` + strings.Repeat("0,", maxEnvelope*3/8-8) + `0]}`)))
	f.Add("")
	f.Add("=")
	f.Add("e30=\n")

	f.Fuzz(func(t *testing.T, s string) {
		var a Answer
		if decodeHeader("answer", s, &a) == nil {
			fuzzRoundTrip(t, s, a)
			fuzzOpen(t, d, a.Receipt)
			fuzzOpen(t, d, a.Result)
		}
		var sealed Sealed
		if decodeHeader("sealed", s, &sealed) == nil {
			fuzzRoundTrip(t, s, sealed)
			fuzzOpen(t, d, sealed)
		}
	})
}

// fuzzRoundTrip checks that v, decoded from s, encodes to a header that
// decodes to a value encoding the same, and is a fixed point from there.
func fuzzRoundTrip[T any](t *testing.T, s string, v T) {
	t.Helper()
	enc, err := encodeHeader(v)
	if err != nil {
		t.Fatalf("%q decoded to %+v, which does not encode: %v", s, v, err)
	}
	var v2 T
	if err := fuzzDecode(enc, &v2); err != nil {
		t.Fatalf("%q decoded to %+v, encoded to %q, which does not decode: %v", s, v, enc, err)
	}
	enc2, err := encodeHeader(v2)
	if err != nil || enc2 != enc {
		t.Fatalf("%q: encodings differ after a round trip:\n%s\n%s (%v)", s, enc, enc2, err)
	}
	var v3 T
	if err := fuzzDecode(enc2, &v3); err != nil || !reflect.DeepEqual(v2, v3) {
		t.Fatalf("%q: decodes differ after a round trip:\n%+v\n%+v (%v)", s, v2, v3, err)
	}
	// The signatures survive byte for byte.
	switch x := any(v).(type) {
	case Answer:
		y := any(v2).(Answer)
		if !bytes.Equal(x.Receipt.Signature, y.Receipt.Signature) || !bytes.Equal(x.Result.Signature, y.Result.Signature) {
			t.Fatalf("%q: signatures changed", s)
		}
	case Sealed:
		if !bytes.Equal(x.Signature, any(v2).(Sealed).Signature) {
			t.Fatalf("%q: signature changed", s)
		}
	}
}

// fuzzDecode is decodeHeader without its size bound where only that
// bound refuses: encodeHeader writes the fields a value lacked, and
// json.Marshal escapes <, > and & in a raw record six times longer, so a
// value read near the bound may re-encode past it.
func fuzzDecode(s string, v any) error {
	err := decodeHeader("re-encoded", s, v)
	if err == nil || len(s) <= maxEnvelope {
		return err
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

// fuzzOpen opens s as each record kind; a record that opens opens the
// same, with the same signer, after a round trip of its envelope.
func fuzzOpen(t *testing.T, d sign.Domain, s Sealed) {
	t.Helper()
	enc, err := encodeHeader(s)
	if err != nil {
		t.Fatal(err)
	}
	var s2 Sealed
	if err := fuzzDecode(enc, &s2); err != nil {
		t.Fatal(err)
	}
	fuzzOpenAs[sign.TranscodeReceipt](t, d, s, s2)
	fuzzOpenAs[sign.TranscodeResult](t, d, s, s2)
	fuzzOpenAs[sign.Segment](t, d, s, s2)
	fuzzOpenAs[sign.Permit](t, d, s, s2)
}

func fuzzOpenAs[R any, PR interface {
	*R
	sign.Record
	jsonUnmarshaler
}](t *testing.T, d sign.Domain, s, s2 Sealed) {
	t.Helper()
	r, who, err := open[R, PR](d, s)
	if bytes.Equal(s.Record, s2.Record) && bytes.Equal(s.Signature, s2.Signature) {
		return // the same bytes: opening them again tells nothing
	}
	r2, who2, err2 := open[R, PR](d, s2)
	if (err == nil) != (err2 == nil) || who != who2 || (err == nil && !reflect.DeepEqual(r, r2)) {
		t.Fatalf("%T opens differently after a round trip: %+v by %s (%v), then %+v by %s (%v)", r, r, who.Hex(), err, r2, who2.Hex(), err2)
	}
}

// jsonUnmarshaler is json.Unmarshaler, named here for open's constraint.
type jsonUnmarshaler interface{ UnmarshalJSON([]byte) error }
