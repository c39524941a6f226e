package wish

import (
	"errors"
	"fmt"
	"strings"
)

// Fragment is a parsed application/trickle-ice-sdpfrag body (RFC 8840 §4.4,
// as used by RFC 9725 §4.3): ICE credentials when the client restarts ICE,
// and trickled candidates.
type Fragment struct {
	Ufrag, Pwd      string
	Candidates      []string // values of the a=candidate lines, after "a=candidate:"
	EndOfCandidates bool
}

// ParseFragment reads an SDP fragment. Lines other than ICE ones (m=, a=mid,
// a=ice-options...) are accepted and ignored: castnet bundles everything on
// one transport.
func ParseFragment(body []byte) (Fragment, error) {
	var f Fragment
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return Fragment{}, fmt.Errorf("%w: line %q", ErrBadFragment, truncate(line, 40))
		}
		if line[0] != 'a' {
			continue
		}
		key, val, _ := strings.Cut(line[2:], ":")
		switch key {
		case "ice-ufrag":
			f.Ufrag = val
		case "ice-pwd":
			f.Pwd = val
		case "candidate":
			f.Candidates = append(f.Candidates, val)
		case "end-of-candidates":
			f.EndOfCandidates = true
		}
	}
	if (f.Ufrag == "") != (f.Pwd == "") {
		return Fragment{}, fmt.Errorf("%w: ice-ufrag and ice-pwd must come together", ErrBadFragment)
	}
	return f, nil
}

// replaceICECredentials returns the SDP with every ice-ufrag and ice-pwd
// replaced, the offer pion needs to see for a client-initiated ICE restart.
func replaceICECredentials(offer, ufrag, pwd string) (string, error) {
	lines := strings.Split(offer, "\n")
	found := false
	for i, l := range lines {
		cr := strings.HasSuffix(l, "\r")
		l = strings.TrimSuffix(l, "\r")
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			l, found = "a=ice-ufrag:"+ufrag, true
		case strings.HasPrefix(l, "a=ice-pwd:"):
			l = "a=ice-pwd:" + pwd
		}
		if cr {
			l += "\r"
		}
		lines[i] = l
	}
	if !found {
		return "", errors.New("offer has no ice-ufrag to replace")
	}
	return strings.Join(lines, "\n"), nil
}

// unbracketAddress writes a candidate's IPv6 address without the URI-style
// brackets some clients add ("[fd00::2]"): RFC 8839 §5.1's
// connection-address has none.
func unbracketAddress(cand string) string {
	f := strings.Fields(cand)
	if len(f) < 5 || !strings.HasPrefix(f[4], "[") || !strings.HasSuffix(f[4], "]") {
		return cand
	}
	f[4] = f[4][1 : len(f[4])-1]
	return strings.Join(f, " ")
}

// dropRTCPCandidates removes the component-2 (RTCP) candidates pion writes
// beside each component-1 one: castnet requires rtcp-mux, so RTCP shares
// the RTP component (RFC 5761 §5.1.3) and the lines only mislead clients
// that join candidates into their remote description as they come.
func dropRTCPCandidates(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !isRTCPCandidate(l) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// isRTCPCandidate: a=candidate:<foundation> <component> ... with a
// component other than 1.
func isRTCPCandidate(line string) bool {
	rest, ok := strings.CutPrefix(line, "a=candidate:")
	if !ok {
		return false
	}
	f := strings.Fields(rest)
	return len(f) > 1 && f[1] != "1"
}

// answerFragment renders the server's side of an ICE restart (RFC 9725
// §4.3.3): the first media section's m= and mid lines, the new credentials
// and every gathered component-1 candidate. With max-bundle the first
// section speaks for all of them.
func answerFragment(answer string) string {
	var b strings.Builder
	sections := 0
	for _, l := range strings.Split(answer, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.HasPrefix(l, "m=") {
			if sections++; sections > 1 {
				break
			}
		}
		if isRTCPCandidate(l) {
			continue
		}
		if strings.HasPrefix(l, "m=") || strings.HasPrefix(l, "a=mid:") ||
			strings.HasPrefix(l, "a=ice-ufrag:") || strings.HasPrefix(l, "a=ice-pwd:") ||
			strings.HasPrefix(l, "a=candidate:") || l == "a=end-of-candidates" {
			b.WriteString(l + "\r\n")
		}
	}
	return b.String()
}
