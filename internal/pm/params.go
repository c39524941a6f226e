package pm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// TicketParams are what an orchestrator (the ticket recipient) offers one
// sender: the tickets the sender may write it and the price they pay for.
// The recipient commits to all of them through RecipientRandHash (see
// RecipientRand), so a sender cannot alter any field and still be paid.
//
// In JSON, numbers are decimal strings and the address and hash are
// 0x-hex:
//
//	{"recipient":"0x…","faceValue":"1000000000000000","winProb":"…",
//	 "recipientRandHash":"0x…","seed":"…","expirationBlock":"…",
//	 "pricePerPixel":"1200"}
type TicketParams struct {
	Recipient common.Address
	// FaceValue is what a winning ticket pays, in wei.
	FaceValue *big.Int
	// WinProb is the probability of winning × (2^256 − 1).
	WinProb           *big.Int
	RecipientRandHash common.Hash
	// Seed is the recipient's random input to RecipientRand: it makes
	// every set of parameters, and so every RecipientRandHash, unique.
	Seed *big.Int
	// ExpirationBlock is the first broker block at which these parameters
	// are no longer accepted.
	ExpirationBlock *big.Int
	// PricePerPixel is the price the recipient charges, in wei per output
	// pixel.
	PricePerPixel *big.Int
}

// ExpirationParams name the broker round tickets are made in; they become a
// ticket's auxData. Tickets stay redeemable while CreationRound +
// TicketValidityRounds > the broker's current round.
//
// In JSON: {"creationRound":123,"creationRoundBlockHash":"0x…"}.
type ExpirationParams struct {
	CreationRound          int64
	CreationRoundBlockHash common.Hash
}

// AuxData is the auxData of tickets made in this round (see Ticket.AuxData).
func (e ExpirationParams) AuxData() []byte {
	return Ticket{CreationRound: e.CreationRound, CreationRoundBlockHash: e.CreationRoundBlockHash}.AuxData()
}

// EV is the expected value of one ticket written with these parameters,
// in wei (0 when a number is missing).
func (p TicketParams) EV() *big.Int {
	if p.FaceValue == nil || p.WinProb == nil {
		return new(big.Int)
	}
	return ExpectedValue(p.FaceValue, p.WinProb)
}

// Check reports a missing number, or one that is negative or wider than
// 256 bits: values no contract could encode and RecipientRand would not
// commit to faithfully.
func (p TicketParams) Check() error {
	for _, f := range p.numbers() {
		if err := checkUint256(f.name, *f.v); err != nil {
			return err
		}
	}
	return nil
}

// Check reports a negative creation round.
func (e ExpirationParams) Check() error {
	if e.CreationRound < 0 {
		return fmt.Errorf("%w: creationRound %d is negative", ErrTicket, e.CreationRound)
	}
	return nil
}

// Equal reports whether two sets of parameters are the same (nil numbers
// equal only nil).
func (p TicketParams) Equal(q TicketParams) bool {
	if p.Recipient != q.Recipient || p.RecipientRandHash != q.RecipientRandHash {
		return false
	}
	pn, qn := p.numbers(), q.numbers()
	for i := range pn {
		a, b := *pn[i].v, *qn[i].v
		if (a == nil) != (b == nil) || (a != nil && a.Cmp(b) != 0) {
			return false
		}
	}
	return true
}

type namedNumber struct {
	name string
	v    **big.Int
}

// numbers lists the big-number fields with their JSON names, in JSON order.
func (p *TicketParams) numbers() []namedNumber {
	return []namedNumber{
		{"faceValue", &p.FaceValue},
		{"winProb", &p.WinProb},
		{"seed", &p.Seed},
		{"expirationBlock", &p.ExpirationBlock},
		{"pricePerPixel", &p.PricePerPixel},
	}
}

// ticketParamsJSON is the wire form of TicketParams; pointers tell a
// missing field from a zero one.
type ticketParamsJSON struct {
	Recipient         *common.Address `json:"recipient"`
	FaceValue         *string         `json:"faceValue"`
	WinProb           *string         `json:"winProb"`
	RecipientRandHash *common.Hash    `json:"recipientRandHash"`
	Seed              *string         `json:"seed"`
	ExpirationBlock   *string         `json:"expirationBlock"`
	PricePerPixel     *string         `json:"pricePerPixel"`
}

// MarshalJSON writes numbers as decimal strings (a nil number as "0").
func (p TicketParams) MarshalJSON() ([]byte, error) {
	dec := func(v *big.Int) *string {
		s := "0"
		if v != nil {
			s = v.String()
		}
		return &s
	}
	return json.Marshal(ticketParamsJSON{
		Recipient:         &p.Recipient,
		FaceValue:         dec(p.FaceValue),
		WinProb:           dec(p.WinProb),
		RecipientRandHash: &p.RecipientRandHash,
		Seed:              dec(p.Seed),
		ExpirationBlock:   dec(p.ExpirationBlock),
		PricePerPixel:     dec(p.PricePerPixel),
	})
}

// UnmarshalJSON is strict: every field is required, unknown fields are
// refused, numbers must be canonical decimal strings of at most 256 bits,
// the address and hash 0x-hex of their exact length.
func (p *TicketParams) UnmarshalJSON(data []byte) error {
	var w ticketParamsJSON
	if err := decodeStrict(data, &w); err != nil {
		return fmt.Errorf("ticket params: %w", err)
	}
	if w.Recipient == nil {
		return fmt.Errorf("ticket params: recipient is missing")
	}
	if w.RecipientRandHash == nil {
		return fmt.Errorf("ticket params: recipientRandHash is missing")
	}
	out := TicketParams{Recipient: *w.Recipient, RecipientRandHash: *w.RecipientRandHash}
	strs := []*string{w.FaceValue, w.WinProb, w.Seed, w.ExpirationBlock, w.PricePerPixel}
	for i, f := range out.numbers() {
		if strs[i] == nil {
			return fmt.Errorf("ticket params: %s is missing", f.name)
		}
		v, err := ParseUint256(*strs[i])
		if err != nil {
			return fmt.Errorf("ticket params: %s: %w", f.name, err)
		}
		*f.v = v
	}
	*p = out
	return nil
}

type expirationParamsJSON struct {
	CreationRound          *int64       `json:"creationRound"`
	CreationRoundBlockHash *common.Hash `json:"creationRoundBlockHash"`
}

// MarshalJSON writes the round as a JSON number and the hash as 0x-hex.
func (e ExpirationParams) MarshalJSON() ([]byte, error) {
	return json.Marshal(expirationParamsJSON{&e.CreationRound, &e.CreationRoundBlockHash})
}

// UnmarshalJSON is strict: both fields are required, unknown fields are
// refused and the round must be a non-negative integer.
func (e *ExpirationParams) UnmarshalJSON(data []byte) error {
	var w expirationParamsJSON
	if err := decodeStrict(data, &w); err != nil {
		return fmt.Errorf("expiration params: %w", err)
	}
	switch {
	case w.CreationRound == nil:
		return fmt.Errorf("expiration params: creationRound is missing")
	case *w.CreationRound < 0:
		return fmt.Errorf("expiration params: creationRound %d is negative", *w.CreationRound)
	case w.CreationRoundBlockHash == nil:
		return fmt.Errorf("expiration params: creationRoundBlockHash is missing")
	}
	*e = ExpirationParams{*w.CreationRound, *w.CreationRoundBlockHash}
	return nil
}

// maxUint256Digits is the length of 2^256 − 1 in decimal.
const maxUint256Digits = 78

// ParseUint256 reads a canonical decimal string (digits only, no sign, no
// leading zero except "0" itself) of at most 256 bits.
func ParseUint256(s string) (*big.Int, error) {
	if s == "" {
		return nil, fmt.Errorf("empty number")
	}
	if len(s) > maxUint256Digits {
		return nil, fmt.Errorf("number has %d digits, a uint256 has at most %d", len(s), maxUint256Digits)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, fmt.Errorf("number %q is not a decimal string", s)
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return nil, fmt.Errorf("number %q has a leading zero", s)
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("number %q is not a decimal string", s)
	}
	if v.BitLen() > 256 {
		return nil, fmt.Errorf("number %s is wider than 256 bits", s)
	}
	return v, nil
}

func checkUint256(name string, v *big.Int) error {
	switch {
	case v == nil:
		return fmt.Errorf("%w: %s is missing", ErrTicket, name)
	case v.Sign() < 0:
		return fmt.Errorf("%w: %s is negative", ErrTicket, name)
	case v.BitLen() > 256:
		return fmt.Errorf("%w: %s is wider than 256 bits", ErrTicket, name)
	}
	return nil
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
