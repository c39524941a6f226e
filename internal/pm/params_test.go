package pm

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

func sampleParams() (TicketParams, ExpirationParams) {
	return TicketParams{
			Recipient:         common.HexToAddress("0x00000000000000000000000000000000000000aa"),
			FaceValue:         big.NewInt(1_000_000_000_000_000),
			WinProb:           new(big.Int).Set(MaxWinProb),
			RecipientRandHash: common.HexToHash("0x01"),
			Seed:              big.NewInt(42),
			ExpirationBlock:   big.NewInt(1600),
			PricePerPixel:     big.NewInt(1200),
		}, ExpirationParams{
			CreationRound:          10,
			CreationRoundBlockHash: common.HexToHash("0xb10c"),
		}
}

func TestTicketParamsJSON(t *testing.T) {
	p, e := sampleParams()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"recipient":"0x00000000000000000000000000000000000000aa","faceValue":"1000000000000000",` +
		`"winProb":"115792089237316195423570985008687907853269984665640564039457584007913129639935",` +
		`"recipientRandHash":"0x0000000000000000000000000000000000000000000000000000000000000001",` +
		`"seed":"42","expirationBlock":"1600","pricePerPixel":"1200"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var q TicketParams
	if err := json.Unmarshal(b, &q); err != nil || !q.Equal(p) {
		t.Fatalf("round trip: %+v, %v", q, err)
	}

	b, err = json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"creationRound":10,"creationRoundBlockHash":"0x000000000000000000000000000000000000000000000000000000000000b10c"}`; string(b) != want {
		t.Fatalf("got %s", b)
	}
	var f ExpirationParams
	if err := json.Unmarshal(b, &f); err != nil || f != e {
		t.Fatalf("round trip: %+v, %v", f, err)
	}

	// As fields of an /api/info answer.
	info := struct {
		TicketParams     TicketParams     `json:"ticketParams"`
		ExpirationParams ExpirationParams `json:"expirationParams"`
	}{p, e}
	b, _ = json.Marshal(info)
	var back struct {
		TicketParams     TicketParams     `json:"ticketParams"`
		ExpirationParams ExpirationParams `json:"expirationParams"`
	}
	if err := json.Unmarshal(b, &back); err != nil || !back.TicketParams.Equal(p) || back.ExpirationParams != e {
		t.Fatalf("info round trip: %v", err)
	}
}

func TestTicketParamsJSONStrict(t *testing.T) {
	p, _ := sampleParams()
	good, _ := json.Marshal(p)
	for name, bad := range map[string]string{
		"number not string": strings.Replace(string(good), `"seed":"42"`, `"seed":42`, 1),
		"negative":          strings.Replace(string(good), `"seed":"42"`, `"seed":"-42"`, 1),
		"plus":              strings.Replace(string(good), `"seed":"42"`, `"seed":"+42"`, 1),
		"leading zero":      strings.Replace(string(good), `"seed":"42"`, `"seed":"042"`, 1),
		"hex number":        strings.Replace(string(good), `"seed":"42"`, `"seed":"0x2a"`, 1),
		"empty number":      strings.Replace(string(good), `"seed":"42"`, `"seed":""`, 1),
		"2^256":             strings.Replace(string(good), `"seed":"42"`, `"seed":"115792089237316195423570985008687907853269984665640564039457584007913129639936"`, 1),
		"79 digits":         strings.Replace(string(good), `"seed":"42"`, `"seed":"1000000000000000000000000000000000000000000000000000000000000000000000000000000"`, 1),
		"missing field":     strings.Replace(string(good), `"seed":"42",`, ``, 1),
		"null field":        strings.Replace(string(good), `"seed":"42"`, `"seed":null`, 1),
		"unknown field":     strings.Replace(string(good), `"seed":"42"`, `"seed":"42","extra":1`, 1),
		"address no 0x":     strings.Replace(string(good), `"0x00000000000000000000000000000000000000aa"`, `"00000000000000000000000000000000000000aa"`, 1),
		"short hash":        strings.Replace(string(good), `"0x0000000000000000000000000000000000000000000000000000000000000001"`, `"0x01"`, 1),
		"not an object":     `[]`,
		"null":              `null`,
	} {
		var q TicketParams
		if err := json.Unmarshal([]byte(bad), &q); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
	for name, bad := range map[string]string{
		"negative round": `{"creationRound":-1,"creationRoundBlockHash":"0x000000000000000000000000000000000000000000000000000000000000b10c"}`,
		"float round":    `{"creationRound":1.5,"creationRoundBlockHash":"0x000000000000000000000000000000000000000000000000000000000000b10c"}`,
		"missing hash":   `{"creationRound":1}`,
		"unknown":        `{"creationRound":1,"creationRoundBlockHash":"0x000000000000000000000000000000000000000000000000000000000000b10c","x":0}`,
	} {
		var e ExpirationParams
		if err := json.Unmarshal([]byte(bad), &e); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}

func TestParseUint256(t *testing.T) {
	max := MaxWinProb.String()
	for _, s := range []string{"0", "1", "1200", max} {
		v, err := ParseUint256(s)
		if err != nil || v.String() != s {
			t.Errorf("%s: %v, %v", s, v, err)
		}
	}
	for _, s := range []string{"", "-1", "01", "1e3", "1.0", " 1", "0x10", "115792089237316195423570985008687907853269984665640564039457584007913129639936"} {
		if _, err := ParseUint256(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestParamsCheck(t *testing.T) {
	p, e := sampleParams()
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	if len(e.AuxData()) != 64 || (ExpirationParams{}).AuxData() != nil {
		t.Fatal("auxData")
	}
	p.ExpirationBlock = new(big.Int).Lsh(big.NewInt(1), 256)
	if err := p.Check(); err == nil {
		t.Fatal("wide expirationBlock accepted")
	}
	if err := (ExpirationParams{CreationRound: -1}).Check(); err == nil {
		t.Fatal("negative round accepted")
	}
}

// FuzzTicketParamsJSON: no panic; whatever is accepted is in range and
// survives a re-encode unchanged.
func FuzzTicketParamsJSON(f *testing.F) {
	p, _ := sampleParams()
	good, _ := json.Marshal(p)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"recipient":"0x00000000000000000000000000000000000000aa","faceValue":"0","winProb":"0","recipientRandHash":"0x0000000000000000000000000000000000000000000000000000000000000000","seed":"0","expirationBlock":"0","pricePerPixel":"0"}`))
	f.Add([]byte(`{"faceValue":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var q TicketParams
		if err := json.Unmarshal(data, &q); err != nil {
			return
		}
		if err := q.Check(); err != nil {
			t.Fatalf("accepted out-of-range params: %v", err)
		}
		b, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		var r TicketParams
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("re-encoded params refused: %v\n%s", err, b)
		}
		if !r.Equal(q) {
			t.Fatalf("round trip changed %+v into %+v", q, r)
		}
	})
}
