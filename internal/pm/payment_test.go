package pm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

func samplePayment(tickets int) Payment {
	p, e := sampleParams()
	pay := Payment{Sender: common.HexToAddress("0x00000000000000000000000000000000000000bb"), Params: p, Expiration: e, Tickets: []TicketSig{}}
	for i := range tickets {
		sig := bytes.Repeat([]byte{byte(i)}, 65)
		sig[64] = 27
		pay.Tickets = append(pay.Tickets, TicketSig{SenderNonce: uint32(i + 1), Sig: sig})
	}
	return pay
}

func encodeJSON(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestPaymentRoundTrip(t *testing.T) {
	pay := samplePayment(2)
	s := EncodePayment(pay)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"sender":"0x00000000000000000000000000000000000000bb"`, `"params":{"recipient":`, `"expiration":{"creationRound":10`, `"tickets":[{"senderNonce":1,"sig":"0x0000`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("%s lacks %s", raw, want)
		}
	}
	got, err := ParsePayment(s)
	if err != nil || !got.Equal(pay) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// No tickets is a valid form.
	empty := samplePayment(0)
	got, err = ParsePayment(EncodePayment(empty))
	if err != nil || !got.Equal(empty) || got.Tickets == nil {
		t.Fatalf("empty: %+v, %v", got, err)
	}
	if tk := pay.Ticket(1); tk.Sender != pay.Sender || tk.Recipient != pay.Params.Recipient || tk.SenderNonce != 2 ||
		tk.FaceValue != pay.Params.FaceValue || tk.WinProb != pay.Params.WinProb || tk.RecipientRandHash != pay.Params.RecipientRandHash ||
		tk.CreationRound != 10 || !bytes.Equal(tk.AuxData(), pay.Expiration.AuxData()) {
		t.Fatalf("ticket %+v", tk)
	}
}

// TestLargestPaymentFits: 64 tickets with the widest numbers still fit
// the header limit.
func TestLargestPaymentFits(t *testing.T) {
	pay := samplePayment(MaxTicketsPerPayment)
	for _, f := range pay.Params.numbers() {
		*f.v = new(big.Int).Set(MaxWinProb)
	}
	pay.Expiration.CreationRound = 1<<63 - 1
	for i := range pay.Tickets {
		pay.Tickets[i].SenderNonce = 1<<32 - 1 - uint32(i)
	}
	s := EncodePayment(pay)
	if len(s) > MaxPaymentHeader {
		t.Fatalf("largest payment is %d bytes, limit %d", len(s), MaxPaymentHeader)
	}
	t.Logf("largest payment: %d bytes", len(s))
	if got, err := ParsePayment(s); err != nil || !got.Equal(pay) {
		t.Fatalf("%v", err)
	}
}

func TestParsePaymentRefusals(t *testing.T) {
	good, _ := json.Marshal(samplePayment(1))
	g := string(good)
	sig := `"0x` + strings.Repeat("00", 64) + `1b"`
	for name, header := range map[string]string{
		"empty":            "",
		"too long":         strings.Repeat("A", MaxPaymentHeader+1),
		"padding":          encodeJSON(g) + "==",
		"newline":          encodeJSON(g)[:10] + "\n" + encodeJSON(g)[10:],
		"std alphabet":     strings.NewReplacer("-", "+", "_", "/").Replace(base64.RawURLEncoding.EncodeToString(append(good, 0xfb, 0xff))),
		"not base64":       "!!!!",
		"not json":         encodeJSON("hello"),
		"trailing":         encodeJSON(g + " {}"),
		"unknown field":    encodeJSON(strings.Replace(g, `"sender"`, `"extra":1,"sender"`, 1)),
		"missing sender":   encodeJSON(`{"params":{},"expiration":{},"tickets":[]}`),
		"missing tickets":  encodeJSON(g[:strings.Index(g, `,"tickets"`)] + "}"),
		"null params":      encodeJSON(strings.Replace(g, g[strings.Index(g, `"params":`):strings.Index(g, `,"expiration"`)], `"params":null`, 1)),
		"number face":      encodeJSON(strings.Replace(g, `"faceValue":"1000000000000000"`, `"faceValue":1000000000000000`, 1)),
		"negative face":    encodeJSON(strings.Replace(g, `"faceValue":"1000000000000000"`, `"faceValue":"-1"`, 1)),
		"short sig":        encodeJSON(strings.Replace(g, g[strings.Index(g, `"sig":`):strings.Index(g, `}]}`)], `"sig":"0x00"`, 1)),
		"missing nonce":    encodeJSON(strings.Replace(g, `"senderNonce":1,`, ``, 1)),
		"negative nonce":   encodeJSON(strings.Replace(g, `"senderNonce":1`, `"senderNonce":-1`, 1)),
		"nonce > uint32":   encodeJSON(strings.Replace(g, `"senderNonce":1`, `"senderNonce":4294967296`, 1)),
		"unknown in sig":   encodeJSON(strings.Replace(g, `"senderNonce":1`, `"senderNonce":1,"v":1`, 1)),
		"too many tickets": encodeJSON(strings.Replace(g, g[strings.Index(g, `"tickets":`):], `"tickets":[`+strings.TrimSuffix(strings.Repeat(`{"senderNonce":1,"sig":`+sig+`},`, 65), ",")+`]}`, 1)),
	} {
		_, err := ParsePayment(header)
		var pe *PaymentError
		if !errors.As(err, &pe) || !errors.Is(err, ErrPayment) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := ParsePayment(encodeJSON(g)); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func TestPaymentErrorIs(t *testing.T) {
	var err error = paymentErrorf("x")
	if !errors.Is(err, ErrPayment) || errors.Is(err, ErrStaleParams) {
		t.Fatal("plain error")
	}
	err = staleErrorf("y")
	if !errors.Is(err, ErrPayment) || !errors.Is(err, ErrStaleParams) || err.Error() != "payment refused: y" {
		t.Fatal("stale error")
	}
}

// FuzzParsePayment: no panic; whatever is accepted is within the limits
// and re-encodes into the same payment.
func FuzzParsePayment(f *testing.F) {
	f.Add(EncodePayment(samplePayment(0)))
	f.Add(EncodePayment(samplePayment(2)))
	f.Add(encodeJSON(`{"sender":"0x00","params":null,"expiration":{},"tickets":[]}`))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePayment(s)
		if err != nil {
			if !errors.Is(err, ErrPayment) {
				t.Fatalf("error %v is not ErrPayment", err)
			}
			return
		}
		if err := p.Params.Check(); err != nil {
			t.Fatal(err)
		}
		if len(p.Tickets) > MaxTicketsPerPayment || p.Expiration.CreationRound < 0 {
			t.Fatalf("limits: %d tickets, round %d", len(p.Tickets), p.Expiration.CreationRound)
		}
		for _, tk := range p.Tickets {
			if len(tk.Sig) != 65 {
				t.Fatalf("sig of %d bytes", len(tk.Sig))
			}
		}
		q, err := ParsePayment(EncodePayment(p))
		if err != nil {
			t.Fatalf("re-encoded payment refused: %v", err)
		}
		if !q.Equal(p) {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
	})
}
