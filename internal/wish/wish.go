// Package wish is the HTTP-session signaling that WHIP (RFC 9725) and
// WHEP (draft-ietf-wish-whep) share, named after the IETF working group
// that wrote both, "WebRTC Ingest Signaling over HTTPS": a session
// resource's ETag and random id, the bearer check, trickle-ICE fragments
// (RFC 8840) and what a PATCH of one asks for, the ICE restart, the
// answer gathered before it is sent, and the headers of the 201, PATCH
// and OPTIONS answers. It knows nothing of what flows over the
// PeerConnection, nor which way.
package wish

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/castnet/castnet/internal/httpx"
)

// Signaling errors, each wrapping the httpx class that gives its status.
var (
	ErrUnauthorized = fmt.Errorf("missing or wrong bearer token: %w", httpx.ErrUnauthorized)
	ErrBadSDP       = fmt.Errorf("unparsable SDP offer: %w", httpx.ErrBadRequest)
	// ErrNoCodec: the offer shares no codec with the node, so no answer
	// can be made (pion's SetRemoteDescription and CreateAnswer refusals).
	ErrNoCodec       = fmt.Errorf("no usable codec: %w", httpx.ErrUnprocessable)
	ErrBadFragment   = fmt.Errorf("bad trickle-ice-sdpfrag: %w", httpx.ErrBadRequest)
	ErrNoIfMatch     = fmt.Errorf("ICE restart needs If-Match: %w", httpx.ErrPreconditionRequired)
	ErrETagMismatch  = fmt.Errorf("If-Match does not match the session's ETag: %w", httpx.ErrPreconditionFailed)
	ErrGatherTimeout = fmt.Errorf("ICE gathering did not finish: %w", httpx.ErrGatewayTimeout)
)

// RandomID returns 128 bits of crypto randomness in hex: session URLs are
// capabilities, so they must not be guessable (RFC 9725 §4.2).
func RandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewETag returns a fresh strong entity tag (quoted, RFC 9110 §8.8.3) for
// an ICE session: RFC 9725 §4.3.1 names the ICE session a PATCH is for by
// the ETag of the answer that started it.
func NewETag() string { return `"` + RandomID() + `"` }

// CheckBearer checks r's "Authorization: Bearer <token>" (RFC 9725 §4.5,
// RFC 6750 §2.1, whose scheme name is case-insensitive) in constant time,
// so the token cannot be guessed byte by byte from response times. An
// empty token lets every request through.
func CheckBearer(r *http.Request, token string) error {
	if token == "" {
		return nil
	}
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) < len(prefix) || !equalFold(h[:len(prefix)], prefix) {
		return ErrUnauthorized
	}
	if subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(token)) != 1 {
		return ErrUnauthorized
	}
	return nil
}

// equalFold compares ASCII letters case-insensitively (the scheme name).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// truncate shortens s to n bytes for a log line or an error.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
