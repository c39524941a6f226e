package sign

import (
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// newRecord returns a pointer to a fresh record of r's type, for
// unmarshalling.
func newRecord(r Record) Record {
	switch r.(type) {
	case Permit:
		return &Permit{}
	case Segment:
		return &Segment{}
	case TranscodeResult:
		return &TranscodeResult{}
	case TranscodeReceipt:
		return &TranscodeReceipt{}
	}
	panic("unknown record")
}

// deref turns a pointer from newRecord back into a value.
func deref(r Record) Record {
	return reflect.ValueOf(r).Elem().Interface().(Record)
}

func TestRecordJSONForms(t *testing.T) {
	h := func(s string) string { return Keccak([]byte(s)).Hex() }
	permitDigest := PermitDigest(DefaultDomain(), samplePermit()).Hex()
	want := []string{
		`{"stream":"cam","broadcaster":"0xe93a9C31D153385Bd18dea5E34784F069825D544","expires":"1795600800","maxPricePerPixel":"1200","nonce":"1"}`,
		`{"stream":"cam","seq":"12","durationMs":"2000","hash":"` + h("segment 12 bytes") + `","profiles":"` + h(`[{"name":"240p30"}]`) + `","permit":"` + permitDigest + `"}`,
		`{"segment":"` + h("segment 12 bytes") + `","renditions":["` + h("240p") + `","` + h("360p") + `"],"pixels":"1234567","transcoder":"0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"}`,
		`{"segment":"` + h("segment 12 bytes") + `","renditions":["` + h("240p") + `","` + h("360p") + `"],"pixels":"1234567","orchestrator":"0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf","transcoder":"0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"}`,
	}
	for i, r := range sampleRecords() {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("%s: %v", r.PrimaryType(), err)
		}
		if string(b) != want[i] {
			t.Errorf("%s JSON\n got %s\nwant %s", r.PrimaryType(), b, want[i])
		}
		// The JSON form is the EIP-712 message.
		if m, _ := json.Marshal(r.Message()); string(m) != string(mustCanon(t, b)) {
			t.Errorf("%s: message %s differs from JSON form %s", r.PrimaryType(), m, b)
		}
		back := newRecord(r)
		if err := json.Unmarshal(b, back); err != nil {
			t.Fatalf("%s: %v", r.PrimaryType(), err)
		}
		d1, _ := Digest(DefaultDomain(), r)
		d2, err := Digest(DefaultDomain(), deref(back))
		if err != nil || d1 != d2 {
			t.Errorf("%s: round trip changed the digest", r.PrimaryType())
		}
	}
	// Empty renditions are [], not null.
	b, _ := json.Marshal(TranscodeResult{})
	if !strings.Contains(string(b), `"renditions":[]`) {
		t.Errorf("empty result %s", b)
	}
}

// mustCanon re-encodes JSON with sorted keys, as encoding/json writes maps.
func mustCanon(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return out
}

func TestRecordJSONStrict(t *testing.T) {
	p := `"stream":"cam","broadcaster":"0xe93a9C31D153385Bd18dea5E34784F069825D544","expires":"1795600800","maxPricePerPixel":"1200"`
	zero := "0x" + strings.Repeat("0", 64)
	seg := `"stream":"s","seq":"1","durationMs":"2000","hash":"` + zero + `","profiles":"` + zero + `"`
	res := `"segment":"` + zero + `","pixels":"5","transcoder":"0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"`
	for _, c := range []struct {
		name string
		into Record
		json string
		why  string
	}{
		{"unknown field", &Permit{}, `{` + p + `,"nonce":"1","extra":1}`, `unknown field "extra"`},
		{"missing field", &Permit{}, `{` + p + `}`, `missing field "nonce"`},
		{"repeated field", &Permit{}, `{` + p + `,"nonce":"1","nonce":"2"}`, `"nonce" given twice`},
		{"key in other case", &Permit{}, `{` + p + `,"Nonce":"1"}`, `unknown field "Nonce"`},
		{"JSON number", &Permit{}, `{` + p + `,"nonce":1}`, "must be decimal strings"},
		{"big JSON number", &Permit{}, `{` + p + `,"nonce":1e30}`, "must be decimal strings"},
		{"negative number", &Permit{}, `{` + p + `,"nonce":-1}`, "must be decimal strings"},
		{"negative string", &Permit{}, `{` + p + `,"nonce":"-1"}`, "negative"},
		{"leading zero", &Permit{}, `{` + p + `,"nonce":"01"}`, "leading zero"},
		{"hex number", &Permit{}, `{` + p + `,"nonce":"0x1"}`, "not a decimal integer"},
		{"plus sign", &Permit{}, `{` + p + `,"nonce":"+1"}`, "not a decimal integer"},
		{"empty number", &Permit{}, `{` + p + `,"nonce":""}`, "empty"},
		{"2^256", &Permit{}, `{` + p + `,"nonce":"115792089237316195423570985008687907853269984665640564039457584007913129639936"}`, "wider than 256 bits"},
		{"79 digits", &Permit{}, `{` + p + `,"nonce":"1000000000000000000000000000000000000000000000000000000000000000000000000000000"}`, "wider than 256 bits"},
		{"null", &Permit{}, `{` + p + `,"nonce":null}`, "got null"},
		{"trailing data", &Permit{}, `{` + p + `,"nonce":"1"} {}`, "invalid character"},
		{"not an object", &Permit{}, `["cam"]`, "want a JSON object"},
		{"bad checksum", &Permit{}, `{"stream":"cam","broadcaster":"0xe93a9C31D153385Bd18dea5E34784F069825d544","expires":"1","maxPricePerPixel":"1","nonce":"1"}`, "EIP-55"},
		{"short address", &Permit{}, `{"stream":"cam","broadcaster":"0xe93a9C31D153385Bd18dea5E34784F069825D5","expires":"1","maxPricePerPixel":"1","nonce":"1"}`, "want 40"},
		{"address without 0x", &Permit{}, `{"stream":"cam","broadcaster":"e93a9C31D153385Bd18dea5E34784F069825D544","expires":"1","maxPricePerPixel":"1","nonce":"1"}`, "0x"},
		{"stream number", &Permit{}, `{"stream":5,"broadcaster":"0xe93a9C31D153385Bd18dea5E34784F069825D544","expires":"1","maxPricePerPixel":"1","nonce":"1"}`, "must be a string"},
		{"seq 2^64", &Segment{}, `{"stream":"s","seq":"18446744073709551616","durationMs":"2000","hash":"` + zero + `","profiles":"` + zero + `","permit":"` + zero + `"}`, "wider than 64 bits"},
		{"hash 31 bytes", &Segment{}, `{` + seg + `,"permit":"0x` + strings.Repeat("0", 62) + `"}`, "want 64"},
		{"hash 33 bytes", &Segment{}, `{` + seg + `,"permit":"0x` + strings.Repeat("0", 66) + `"}`, "want 64"},
		{"hash not hex", &Segment{}, `{` + seg + `,"permit":"0x` + strings.Repeat("g", 64) + `"}`, "not hex"},
		{"renditions null", &TranscodeResult{}, `{` + res + `,"renditions":null}`, "got null"},
		{"renditions number", &TranscodeResult{}, `{` + res + `,"renditions":[1]}`, "[0] must be a string"},
		{"renditions short", &TranscodeResult{}, `{` + res + `,"renditions":["0x00"]}`, "[0] is 2 hex digits"},
		{"pixels over 64 bits", &TranscodeResult{}, `{"segment":"` + zero + `","renditions":[],"pixels":"18446744073709551616","transcoder":"0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"}`, "wider than 64 bits"},
		{"receipt missing orchestrator", &TranscodeReceipt{}, `{` + res + `,"renditions":[]}`, `missing field "orchestrator"`},
	} {
		err := json.Unmarshal([]byte(c.json), c.into)
		if err == nil {
			t.Errorf("%s: accepted %s", c.name, c.json)
			continue
		}
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.why)
		}
		if strings.Contains(c.name, "trailing") {
			continue // encoding/json refuses it before UnmarshalJSON runs
		}
		if !errors.Is(err, ErrRecord) {
			t.Errorf("%s: %v is not ErrRecord", c.name, err)
		}
	}

	// What is accepted: all lower- or upper-case addresses, upper-case hex,
	// uint256 max, unicode.
	var got Permit
	in := `{"stream":"直播 📷","broadcaster":"0xE93A9C31D153385BD18DEA5E34784F069825D544","expires":"0","maxPricePerPixel":"115792089237316195423570985008687907853269984665640564039457584007913129639935","nonce":"0"}`
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	if got.Stream != "直播 📷" || got.Broadcaster != common.HexToAddress("0xe93a9c31d153385bd18dea5e34784f069825d544") ||
		got.MaxPricePerPixel.Cmp(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))) != 0 {
		t.Errorf("parsed %+v", got)
	}
	var seg2 Segment
	upper := "0x" + strings.Repeat("AB", 32)
	if err := json.Unmarshal([]byte(`{"stream":"","seq":"18446744073709551615","durationMs":"0","hash":"`+upper+`","profiles":"`+zero+`","permit":"`+zero+`"}`), &seg2); err != nil {
		t.Fatal(err)
	}
	if seg2.Seq != 1<<64-1 || seg2.Hash[0] != 0xab {
		t.Errorf("parsed %+v", seg2)
	}
}
