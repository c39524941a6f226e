package wish

import (
	"fmt"

	"github.com/pion/sdp/v3"

	"github.com/castnet/castnet/internal/httpx"
)

// ErrNotThisICESession refuses a PATCH whose ICE credentials are neither
// the session's nor a valid new pair for a restart (see PatchIntent).
var ErrNotThisICESession = fmt.Errorf("the fragment's ice-ufrag/ice-pwd are not this session's and not a new pair for an ICE restart; its candidates were not applied: %w",
	httpx.ErrUnprocessable)

// ICECreds are one ICE session's credentials (RFC 8839 §5.4).
type ICECreds struct{ Ufrag, Pwd string }

// PatchIntent decides what a PATCH asks for, by RFC 9725 §4.3:
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
func PatchIntent(ifMatch string, frag Fragment, cur ICECreds, etag string) (restart bool, err error) {
	if ifMatch != "" && ifMatch != "*" && ifMatch != etag {
		return false, ErrETagMismatch
	}
	got := ICECreds{frag.Ufrag, frag.Pwd}
	switch {
	case got.Ufrag == "" || got == cur:
		return false, nil
	case got.Ufrag == cur.Ufrag || got.Pwd == cur.Pwd || !validICEChars(got.Ufrag, 4) || !validICEChars(got.Pwd, 22):
		return false, fmt.Errorf("%w: got ice-ufrag %q with a %d-character ice-pwd", ErrNotThisICESession,
			truncate(got.Ufrag, 32), len(got.Pwd))
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

// OfferCreds reads an SDP offer's ICE credentials: the session-level
// ice-ufrag and ice-pwd, else the first media section's that has them
// (RFC 8839 §5.4 allows either level; with BUNDLE every section shares
// one pair). An offer without both cannot start an ICE session.
func OfferCreds(offer string) (ICECreds, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return ICECreds{}, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	c := DescriptionCreds(&sd)
	if c.Ufrag == "" || c.Pwd == "" {
		return ICECreds{}, fmt.Errorf("%w: no ice-ufrag/ice-pwd", ErrBadSDP)
	}
	return c, nil
}

// DescriptionCreds is OfferCreds for an offer already parsed; either
// field is "" where the description lacks it.
func DescriptionCreds(sd *sdp.SessionDescription) ICECreds {
	var c ICECreds
	c.Ufrag, _ = sd.Attribute("ice-ufrag")
	c.Pwd, _ = sd.Attribute("ice-pwd")
	for _, m := range sd.MediaDescriptions {
		if u, ok := m.Attribute("ice-ufrag"); ok && c.Ufrag == "" {
			c.Ufrag = u
		}
		if p, ok := m.Attribute("ice-pwd"); ok && c.Pwd == "" {
			c.Pwd = p
		}
	}
	return c
}
