package sign

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// A publisher proves it may publish to a broadcaster by a signed Permit,
// carried in WHIP's "Authorization: Bearer <token>" as
//
//	eip712.<base64url(JSON {"message": {...}, "signature": "0x…"})>
//
// where message is the permit's JSON form (numbers as decimal strings) and
// signature its 65-byte EIP-712 signature under the broadcaster's domain.

// TokenPrefix starts every permit token.
const TokenPrefix = "eip712."

// MaxTokenLen bounds a permit token in bytes.
const MaxTokenLen = 4096

// Errors of permit checking. ErrToken wraps every reason ParseToken
// refuses a token; CheckPermit's errors wrap ErrUnauthorized (HTTP 401:
// the token is malformed or its signature bad) or ErrForbidden (HTTP 403:
// a valid permit that does not allow this publication).
var (
	ErrToken        = errors.New("bad permit token")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)

// tokenJSON is the token's JSON body.
type tokenJSON struct {
	Message   permitJSON `json:"message"`
	Signature string     `json:"signature"`
}

// EncodeToken makes the bearer token for p and its signature: "eip712." +
// base64url, unpadded, of {"message": {...}, "signature": "0x…"}. p should
// pass Check: a permit with missing numbers or a stream name that is not
// UTF-8 gives a token ParseToken refuses.
func EncodeToken(p Permit, sig []byte) string {
	body, err := marshalJSON(tokenJSON{Message: p.toJSON(), Signature: "0x" + hex.EncodeToString(sig)})
	if err != nil { // strings only: cannot happen
		return TokenPrefix
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(body)
}

// ParseToken reads a permit token strictly: at most MaxTokenLen bytes,
// the "eip712." prefix, base64url with or without padding, a JSON object
// with exactly "message" and "signature", the message with exactly the
// permit's fields (numbers as canonical decimal strings within uint256),
// and a 0x-hex signature of 65 bytes. It does not check the signature:
// see CheckPermit. Errors wrap ErrToken and say why.
func ParseToken(s string) (Permit, []byte, error) {
	p, sig, err := parseToken(s)
	if err != nil {
		return Permit{}, nil, fmt.Errorf("%w: %v", ErrToken, err)
	}
	return p, sig, nil
}

func parseToken(s string) (Permit, []byte, error) {
	if len(s) > MaxTokenLen {
		return Permit{}, nil, fmt.Errorf("token is %d bytes, at most %d", len(s), MaxTokenLen)
	}
	if !strings.HasPrefix(s, TokenPrefix) {
		return Permit{}, nil, fmt.Errorf("token does not start with %q", TokenPrefix)
	}
	b64 := s[len(TokenPrefix):]
	// base64's decoders skip \r and \n; a token has no place for them.
	unpadded := strings.TrimRight(b64, "=")
	for i := 0; i < len(unpadded); i++ {
		c := unpadded[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return Permit{}, nil, fmt.Errorf("token has %q at byte %d: not base64url", c, len(TokenPrefix)+i)
		}
	}
	enc := base64.RawURLEncoding
	if len(unpadded) != len(b64) {
		enc = base64.URLEncoding
	}
	body, err := enc.Strict().DecodeString(b64)
	if err != nil {
		return Permit{}, nil, fmt.Errorf("token is not base64url: %v", err)
	}
	o, err := decodeObject("token", body, "message", "signature")
	if err != nil {
		return Permit{}, nil, err
	}
	p, err := permitFromJSON("token.message", o.fields["message"])
	if err != nil {
		return Permit{}, nil, err
	}
	sigHex, err := o.str("signature")
	if err != nil {
		return Permit{}, nil, err
	}
	if !strings.HasPrefix(sigHex, "0x") {
		return Permit{}, nil, errors.New("token: signature does not start with 0x")
	}
	sig, err := hex.DecodeString(sigHex[2:])
	if err != nil {
		return Permit{}, nil, errors.New("token: signature is not hex")
	}
	if len(sig) != SignatureLen {
		return Permit{}, nil, fmt.Errorf("token: signature is %d bytes, want %d", len(sig), SignatureLen)
	}
	return p, sig, nil
}

// PermitPolicy is what a broadcaster requires of a permit.
type PermitPolicy struct {
	// Broadcaster is this broadcaster's address; permits for another are
	// forbidden.
	Broadcaster common.Address
	// Stream is the stream name being published.
	Stream string
	// Now is the current time (the zero time means time.Now()); a permit
	// is expired when expires <= Now's unix seconds.
	Now time.Time
}

// CheckPermit parses token, recovers the publisher that signed it under d,
// and checks it against want. Errors wrap ErrUnauthorized (malformed
// token, bad signature; the ErrToken or ErrSignature reason is wrapped
// too) or ErrForbidden (signed for another broadcaster or stream, or
// expired). A well-formed signature by anyone recovers some address:
// callers must still check the publisher (allow-list, funding), the nonce
// (replay) and the price.
func CheckPermit(d Domain, token string, want PermitPolicy) (common.Address, Permit, error) {
	p, sig, err := ParseToken(token)
	if err != nil {
		return common.Address{}, Permit{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	publisher, err := RecordSigner(d, p, sig)
	if err != nil {
		return common.Address{}, Permit{}, fmt.Errorf("%w: permit: %w", ErrUnauthorized, err)
	}
	if p.Broadcaster != want.Broadcaster {
		return common.Address{}, Permit{}, fmt.Errorf("%w: permit is for broadcaster %s, this is %s", ErrForbidden, p.Broadcaster.Hex(), want.Broadcaster.Hex())
	}
	if p.Stream != want.Stream {
		return common.Address{}, Permit{}, fmt.Errorf("%w: permit is for stream %q, not %q", ErrForbidden, truncate(p.Stream), truncate(want.Stream))
	}
	now := want.Now
	if now.IsZero() {
		now = time.Now()
	}
	if p.Expires.Cmp(big.NewInt(now.Unix())) <= 0 {
		return common.Address{}, Permit{}, fmt.Errorf("%w: permit expired at %s", ErrForbidden, expiryString(p.Expires))
	}
	return publisher, p, nil
}

// expiryString formats an expiry in unix seconds as RFC 3339 UTC.
func expiryString(expires *big.Int) string {
	if !expires.IsInt64() {
		return expires.String() + " (unix seconds)"
	}
	return time.Unix(expires.Int64(), 0).UTC().Format(time.RFC3339)
}
