// Package pm holds Livepeer-compatible probabilistic micropayment tickets:
// their hash, signature, the recipient's random commitment and the win
// rule, in the form Livepeer's TicketBroker contract redeems.
package pm

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/castnet/castnet/internal/sign"
)

// Ticket is a lottery ticket a sender (broadcaster) gives a recipient
// (orchestrator): if it wins, the recipient may redeem FaceValue from the
// sender's deposit. Field meanings and layout follow Livepeer's
// TicketBroker.
type Ticket struct {
	Recipient common.Address
	Sender    common.Address
	FaceValue *big.Int
	// WinProb is the probability of winning × (2^256 − 1).
	WinProb     *big.Int
	SenderNonce uint32
	// RecipientRandHash commits the recipient to a secret number it
	// reveals only when redeeming.
	RecipientRandHash      common.Hash
	CreationRound          int64
	CreationRoundBlockHash common.Hash
}

// MaxWinProb is 2^256 − 1: a ticket with this WinProb always wins.
var MaxWinProb = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// ErrTicket means a ticket's fields are out of range.
var ErrTicket = errors.New("bad ticket")

// Check reports fields a contract could not encode: missing or negative
// values, or values wider than uint256.
func (t Ticket) Check() error {
	for name, v := range map[string]*big.Int{"faceValue": t.FaceValue, "winProb": t.WinProb} {
		if v == nil || v.Sign() < 0 || v.BitLen() > 256 {
			return fmt.Errorf("%w: %s is missing, negative or wider than 256 bits", ErrTicket, name)
		}
	}
	if t.CreationRound < 0 {
		return fmt.Errorf("%w: negative creationRound", ErrTicket)
	}
	return nil
}

// AuxData is creationRound (left-padded to 32 bytes) ‖ creationRoundBlockHash,
// or empty when both are zero.
func (t Ticket) AuxData() []byte {
	if t.CreationRound == 0 && t.CreationRoundBlockHash == (common.Hash{}) {
		return nil
	}
	return append(pad32(big.NewInt(t.CreationRound)), t.CreationRoundBlockHash[:]...)
}

// Hash is keccak256(recipient ‖ sender ‖ pad32(faceValue) ‖ pad32(winProb) ‖
// pad32(senderNonce) ‖ recipientRandHash ‖ auxData), the ticket hash
// TicketBroker computes. Call Check first for tickets from outside.
func (t Ticket) Hash() common.Hash {
	b := make([]byte, 0, 20+20+32*4+64)
	b = append(b, t.Recipient[:]...)
	b = append(b, t.Sender[:]...)
	b = append(b, pad32(t.FaceValue)...)
	b = append(b, pad32(t.WinProb)...)
	b = append(b, pad32(new(big.Int).SetUint64(uint64(t.SenderNonce)))...)
	b = append(b, t.RecipientRandHash[:]...)
	b = append(b, t.AuxData()...)
	return crypto.Keccak256Hash(b)
}

// Sign signs the ticket hash with EIP-191 personal_sign (v = 27/28).
func (t Ticket) Sign(k sign.Key) ([]byte, error) {
	return sign.SignHash(k, sign.PersonalHash(t.Hash().Bytes()))
}

// Signer recovers who signed the ticket (low-s enforced).
func (t Ticket) Signer(sig []byte) (common.Address, error) {
	return sign.Recover(sign.PersonalHash(t.Hash().Bytes()), sig)
}

// Wins applies the win rule: uint256(keccak256(sig ‖ pad32(recipientRand)))
// < winProb.
func Wins(sig []byte, recipientRand, winProb *big.Int) bool {
	h := crypto.Keccak256(sig, pad32(recipientRand))
	return new(big.Int).SetBytes(h).Cmp(winProb) < 0
}

// RandHash is keccak256(pad32(recipientRand)), the commitment a ticket
// carries.
func RandHash(recipientRand *big.Int) common.Hash {
	return crypto.Keccak256Hash(pad32(recipientRand))
}

// RecipientRand derives the recipient's secret number for one set of
// ticket parameters: HMAC-SHA256(secret, seed ‖ sender ‖ faceValue ‖
// winProb ‖ expirationBlock ‖ pricePerPixel ‖ auxData), numbers padded to
// 32 bytes. Only the recipient can compute it, and it need not store it:
// the parameters a ticket names are enough to recompute it.
func RecipientRand(secret []byte, seed *big.Int, sender common.Address, faceValue, winProb, expirationBlock, pricePerPixel *big.Int, auxData []byte) *big.Int {
	m := hmac.New(sha256.New, secret)
	m.Write(pad32(seed))
	m.Write(sender[:])
	m.Write(pad32(faceValue))
	m.Write(pad32(winProb))
	m.Write(pad32(expirationBlock))
	m.Write(pad32(pricePerPixel))
	m.Write(auxData)
	return new(big.Int).SetBytes(m.Sum(nil))
}

// WinProbFor returns the win probability that gives a ticket of faceValue
// the expected value ev: ev × (2^256 − 1) / faceValue, capped at certain.
func WinProbFor(ev, faceValue *big.Int) *big.Int {
	if faceValue.Sign() <= 0 || ev.Cmp(faceValue) >= 0 {
		return new(big.Int).Set(MaxWinProb)
	}
	p := new(big.Int).Mul(ev, MaxWinProb)
	return p.Div(p, faceValue)
}

// ExpectedValue is faceValue × winProb / (2^256 − 1), rounded down.
func ExpectedValue(faceValue, winProb *big.Int) *big.Int {
	ev := new(big.Int).Mul(faceValue, winProb)
	return ev.Div(ev, MaxWinProb)
}

// pad32 is a non-negative integer as 32 big-endian bytes; values wider
// than 256 bits keep their low 256 bits (Check refuses them first).
func pad32(v *big.Int) []byte {
	out := make([]byte, 32)
	if v == nil {
		return out
	}
	if v.Sign() < 0 || v.BitLen() > 256 {
		v = new(big.Int).And(v, MaxWinProb) // low 256 bits, two's complement
	}
	return v.FillBytes(out)
}
