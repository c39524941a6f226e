package whip

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/media"
)

// Offer errors. Each names what was wrong so a publisher can fix it.
var (
	ErrBadSDP      = fmt.Errorf("unparsable SDP offer: %w", httpx.ErrBadRequest)
	ErrNoMedia     = fmt.Errorf("offer has no audio or video: %w", httpx.ErrUnprocessable)
	ErrManyTracks  = fmt.Errorf("offer has more than one audio or video track (WHIP allows one of each): %w", httpx.ErrUnprocessable)
	ErrNoCodec     = fmt.Errorf("no usable codec: %w", httpx.ErrUnprocessable)
	ErrNotSending  = fmt.Errorf("offer does not send media (WHIP offers are sendonly): %w", httpx.ErrUnprocessable)
	ErrBadFragment = fmt.Errorf("bad trickle-ice-sdpfrag: %w", httpx.ErrBadRequest)
)

// OfferInfo is what castnet needs to know of a publisher's offer before
// building a PeerConnection for it.
type OfferInfo struct {
	Video media.Codec // "" when the offer has no video
	Audio media.Codec // "" when the offer has no audio
	Ufrag string
	Pwd   string
}

// CheckOffer parses an SDP offer and checks it is one castnet can ingest: at
// most one audio and one video section (RFC 9725 §4.2), each sending, with
// H.264 (packetization-mode=1) for video and Opus for audio.
func CheckOffer(offer []byte) (OfferInfo, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(offer)); err != nil {
		return OfferInfo{}, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	var info OfferInfo
	var videos, audios int
	info.Ufrag, _ = sd.Attribute("ice-ufrag")
	info.Pwd, _ = sd.Attribute("ice-pwd")
	for _, m := range sd.MediaDescriptions {
		if u, ok := m.Attribute("ice-ufrag"); ok && info.Ufrag == "" {
			info.Ufrag = u
		}
		if p, ok := m.Attribute("ice-pwd"); ok && info.Pwd == "" {
			info.Pwd = p
		}
		switch m.MediaName.Media {
		case "video":
			videos++
			if err := checkSection(m, "H264", h264Usable); err != nil {
				return OfferInfo{}, err
			}
			info.Video = media.CodecH264
		case "audio":
			audios++
			if err := checkSection(m, "opus", nil); err != nil {
				return OfferInfo{}, err
			}
			info.Audio = media.CodecOpus
		}
	}
	switch {
	case videos > 1 || audios > 1:
		return OfferInfo{}, ErrManyTracks
	case videos+audios == 0:
		return OfferInfo{}, ErrNoMedia
	case info.Ufrag == "" || info.Pwd == "":
		return OfferInfo{}, fmt.Errorf("%w: no ice-ufrag/ice-pwd", ErrBadSDP)
	}
	return info, nil
}

// checkSection requires m to send and to offer codec (by rtpmap encoding
// name, case-insensitive) with fmtp parameters ok accepts.
func checkSection(m *sdp.MediaDescription, codec string, ok func(fmtp string) bool) error {
	for _, dir := range []string{"recvonly", "inactive"} {
		if _, has := m.Attribute(dir); has {
			return fmt.Errorf("%s section is %s: %w", m.MediaName.Media, dir, ErrNotSending)
		}
	}
	fmtps := map[string]string{}
	for _, a := range m.Attributes {
		if a.Key == "fmtp" {
			pt, params, _ := strings.Cut(a.Value, " ")
			fmtps[pt] = params
		}
	}
	var offered []string
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, _ := strings.Cut(a.Value, " ")
		name, _, _ := strings.Cut(enc, "/")
		if strings.EqualFold(name, codec) && (ok == nil || ok(fmtps[pt])) {
			return nil
		}
		if !strings.EqualFold(name, "rtx") && !strings.EqualFold(name, "red") && !strings.EqualFold(name, "ulpfec") {
			offered = append(offered, name)
		}
	}
	want := codec
	if codec == "H264" {
		want = "H264 with packetization-mode=1"
	}
	return fmt.Errorf("%w: %s section offers [%s], castnet accepts %s", ErrNoCodec,
		m.MediaName.Media, strings.Join(dedupe(offered), " "), want)
}

func h264Usable(fmtp string) bool {
	for _, p := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "packetization-mode") {
			return v == "1"
		}
	}
	return false // mode 0 is the default when the parameter is absent (RFC 6184 §8.1)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// Fragment is a parsed application/trickle-ice-sdpfrag body (RFC 8840 §4.4,
// as used by RFC 9725 §4.3): ICE credentials when the client restarts ICE,
// and trickled candidates.
type Fragment struct {
	Ufrag, Pwd      string
	Candidates      []string // values of a=candidate lines, without "candidate:"-less prefixes
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

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
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
