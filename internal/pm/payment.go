package pm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/castnet/castnet/internal/sign"
)

// PaymentHeader is the HTTP request header a broadcaster sends its payment
// in, encoded by EncodePayment.
//
// Only tickets prove who sent a payment: each is signed by Sender and its
// nonce is used once. A payment without tickets names a sender nobody
// vouches for, so a server must not spend that sender's credit (Reserve,
// Debit) on its word alone: it must authenticate the broadcaster some
// other way (a signed request or a session token bound to the sender).
const PaymentHeader = "Castnet-Payment"

// Limits of ParsePayment.
const (
	// MaxPaymentHeader is the longest encoded payment accepted, in bytes.
	// A payment of MaxTicketsPerPayment tickets with 256-bit numbers
	// encodes to about 15.7 KiB.
	MaxPaymentHeader = 16 << 10
	// MaxTicketsPerPayment is the most tickets one payment may carry.
	MaxTicketsPerPayment = 64
)

var (
	// ErrPayment means a payment is malformed or refused; HTTP servers
	// answer it with 402 Payment Required. Errors that wrap it are
	// *PaymentError.
	ErrPayment = errors.New("payment refused")
	// ErrStaleParams means the ticket parameters a payment uses expired
	// (their block or round) or ran out of nonces: the sender must fetch
	// new ones from the orchestrator and pay again.
	ErrStaleParams = errors.New("ticket params are stale: fetch new ones from the orchestrator")
)

// PaymentError is why a payment was refused. It matches ErrPayment with
// errors.Is, and also ErrStaleParams when Stale is set.
type PaymentError struct {
	Reason string
	// Stale is set when fresh ticket parameters would fix the problem.
	Stale bool
}

func (e *PaymentError) Error() string { return "payment refused: " + e.Reason }

// Is matches ErrPayment, and ErrStaleParams for stale parameters.
func (e *PaymentError) Is(target error) bool {
	return target == ErrPayment || (e.Stale && target == ErrStaleParams)
}

func paymentErrorf(format string, args ...any) *PaymentError {
	return &PaymentError{Reason: fmt.Sprintf(format, args...)}
}

func staleErrorf(format string, args ...any) *PaymentError {
	return &PaymentError{Reason: fmt.Sprintf(format, args...), Stale: true}
}

// Payment is what a broadcaster sends with a segment: tickets written
// with one set of ticket parameters. It may carry no ticket when the
// sender believes its credit at the orchestrator covers the segment.
type Payment struct {
	Sender     common.Address
	Params     TicketParams
	Expiration ExpirationParams
	Tickets    []TicketSig
}

// TicketSig is one ticket of a payment: the rest of the ticket is the
// payment's.
type TicketSig struct {
	SenderNonce uint32
	// Sig is the sender's 65-byte EIP-191 signature of the ticket hash.
	Sig []byte
}

// Ticket returns the full ticket i of the payment.
func (p Payment) Ticket(i int) Ticket {
	return Ticket{
		Recipient:              p.Params.Recipient,
		Sender:                 p.Sender,
		FaceValue:              p.Params.FaceValue,
		WinProb:                p.Params.WinProb,
		SenderNonce:            p.Tickets[i].SenderNonce,
		RecipientRandHash:      p.Params.RecipientRandHash,
		CreationRound:          p.Expiration.CreationRound,
		CreationRoundBlockHash: p.Expiration.CreationRoundBlockHash,
	}
}

// Equal reports whether two payments are the same.
func (p Payment) Equal(q Payment) bool {
	if p.Sender != q.Sender || p.Expiration != q.Expiration || !p.Params.Equal(q.Params) || len(p.Tickets) != len(q.Tickets) {
		return false
	}
	for i, t := range p.Tickets {
		u := q.Tickets[i]
		if t.SenderNonce != u.SenderNonce || string(t.Sig) != string(u.Sig) {
			return false
		}
	}
	return true
}

type paymentJSON struct {
	Sender     *common.Address   `json:"sender"`
	Params     *TicketParams     `json:"params"`
	Expiration *ExpirationParams `json:"expiration"`
	Tickets    *[]ticketSigJSON  `json:"tickets"`
}

type ticketSigJSON struct {
	SenderNonce *uint32        `json:"senderNonce"`
	Sig         *hexutil.Bytes `json:"sig"`
}

// MarshalJSON writes the payment's wire form:
//
//	{"sender":"0x…","params":{…},"expiration":{…},
//	 "tickets":[{"senderNonce":1,"sig":"0x…"}]}
func (p Payment) MarshalJSON() ([]byte, error) {
	ts := make([]ticketSigJSON, len(p.Tickets))
	for i := range p.Tickets {
		sig := hexutil.Bytes(p.Tickets[i].Sig)
		ts[i] = ticketSigJSON{&p.Tickets[i].SenderNonce, &sig}
	}
	return json.Marshal(paymentJSON{&p.Sender, &p.Params, &p.Expiration, &ts})
}

// EncodePayment is the payment as sent in the Castnet-Payment header:
// unpadded base64url of its JSON. A nil number encodes as 0.
func EncodePayment(p Payment) string {
	b, err := json.Marshal(p)
	if err != nil {
		// Only a bug can get here: every field marshals.
		panic(fmt.Sprintf("pm: encoding a payment: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParsePayment reads a Castnet-Payment header. It is strict: at most
// MaxPaymentHeader bytes of unpadded base64url, JSON with every field
// present and no unknown one, numbers as canonical decimal strings of at
// most 256 bits, at most MaxTicketsPerPayment tickets with a nonce and a
// 65-byte signature each. Errors are *PaymentError. It checks the form
// only: Recipient.Receive decides whether the payment is good.
func ParsePayment(s string) (Payment, error) {
	if len(s) > MaxPaymentHeader {
		return Payment{}, paymentErrorf("payment header is %d bytes, the limit is %d", len(s), MaxPaymentHeader)
	}
	if s == "" {
		return Payment{}, paymentErrorf("payment header is empty")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return Payment{}, paymentErrorf("payment header is not unpadded base64url: byte %d is %q", i, c)
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return Payment{}, paymentErrorf("payment header is not unpadded base64url: %v", err)
	}
	var w paymentJSON
	if err := decodeStrict(raw, &w); err != nil {
		return Payment{}, paymentErrorf("payment JSON: %v", err)
	}
	switch {
	case w.Sender == nil:
		return Payment{}, paymentErrorf("payment JSON: sender is missing")
	case w.Params == nil:
		return Payment{}, paymentErrorf("payment JSON: params is missing")
	case w.Expiration == nil:
		return Payment{}, paymentErrorf("payment JSON: expiration is missing")
	case w.Tickets == nil:
		return Payment{}, paymentErrorf("payment JSON: tickets is missing")
	case len(*w.Tickets) > MaxTicketsPerPayment:
		return Payment{}, paymentErrorf("payment has %d tickets, the limit is %d", len(*w.Tickets), MaxTicketsPerPayment)
	}
	p := Payment{Sender: *w.Sender, Params: *w.Params, Expiration: *w.Expiration, Tickets: make([]TicketSig, len(*w.Tickets))}
	for i, t := range *w.Tickets {
		switch {
		case t.SenderNonce == nil:
			return Payment{}, paymentErrorf("payment JSON: ticket %d: senderNonce is missing", i)
		case t.Sig == nil:
			return Payment{}, paymentErrorf("payment JSON: ticket %d: sig is missing", i)
		case len(*t.Sig) != sign.SignatureLen:
			return Payment{}, paymentErrorf("payment JSON: ticket %d: sig is %d bytes, want %d", i, len(*t.Sig), sign.SignatureLen)
		}
		p.Tickets[i] = TicketSig{SenderNonce: *t.SenderNonce, Sig: []byte(*t.Sig)}
	}
	return p, nil
}
