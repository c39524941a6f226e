package whip

import (
	"fmt"

	"github.com/castnet/castnet/internal/httpx"
)

// ErrNotThisICESession refuses a PATCH whose ICE credentials are neither
// the session's nor a valid new pair for a restart (see patchIntent).
var ErrNotThisICESession = fmt.Errorf("the fragment's ice-ufrag/ice-pwd are not this session's and not a new pair for an ICE restart; its candidates were not applied: %w",
	httpx.ErrUnprocessable)

// iceCreds are one ICE session's credentials (RFC 8839 §5.4).
type iceCreds struct{ ufrag, pwd string }

// patchIntent decides what a PATCH asks for, by RFC 9725 §4.3:
//
//   - If-Match, when sent, is "*" or the current ETag, whatever the PATCH
//     is for; any other tag is a stale ICE session (§4.3.1: 412).
//   - A fragment without credentials, or with the session's own, trickles
//     candidates into the current ICE session (§4.3.2: 204).
//   - An ICE restart (§4.3.3) carries a new ice-ufrag and a new ice-pwd
//     (a restart changes both, RFC 8839 §4.4.3.1.1), each valid by RFC 8839
//     §5.4, and If-Match: "*". castnet also takes the
//     current ETag in its place, since that names the ICE session being
//     replaced just as surely. Without If-Match it is refused with 428.
//   - Anything else, credentials that are neither the session's nor a
//     valid new pair, is refused with 422 and changes nothing. whip-whep
//     sends "a=ice-ufrag:null" and "a=ice-pwd:null" when its PATCH runs
//     before it has read its own offer. Those credentials name the ICE
//     session their candidates belong to, and it is none of ours, so the
//     candidates must not be applied (webrtc-pc's addIceCandidate rejects a
//     candidate whose ufrag is not the remote description's, and pion drops
//     one the same way). Taking the PATCH as a restart would replace
//     working credentials with ones the client never uses and end a healthy
//     session. §4.3.3 asks the opposite of a restart that cannot be
//     satisfied: an error, with the existing ICE session kept. 422 rather
//     than a silent 204 tells the client its candidates were not used; it
//     is the status §4.3.1 gives a PATCH the session does not act on.
func patchIntent(ifMatch string, frag Fragment, cur iceCreds, etag string) (restart bool, err error) {
	if ifMatch != "" && ifMatch != "*" && ifMatch != etag {
		return false, ErrETagMismatch
	}
	got := iceCreds{frag.Ufrag, frag.Pwd}
	switch {
	case got.ufrag == "" || got == cur:
		return false, nil
	case got.ufrag == cur.ufrag || got.pwd == cur.pwd || !validICEChars(got.ufrag, 4) || !validICEChars(got.pwd, 22):
		return false, fmt.Errorf("%w: got ice-ufrag %q with a %d-character ice-pwd", ErrNotThisICESession,
			truncate(got.ufrag, 32), len(got.pwd))
	case ifMatch == "":
		return false, ErrNoIfMatch
	}
	return true, nil
}

// validICEChars reports whether s is min to 256 ice-chars (ALPHA / DIGIT /
// "+" / "/"), the syntax of ice-ufrag (4) and ice-pwd (22) in RFC 8839
// §5.4.
func validICEChars(s string, min int) bool {
	if len(s) < min || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/'
		if !ok {
			return false
		}
	}
	return true
}
