package whip

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/wish"
)

// Offer errors. Each names what was wrong so a publisher can fix it.
var (
	ErrBadSDP      = wish.ErrBadSDP
	ErrNoMedia     = fmt.Errorf("offer has no audio or video: %w", httpx.ErrUnprocessable)
	ErrManyTracks  = fmt.Errorf("offer has more than one audio or video track (WHIP allows one of each): %w", httpx.ErrUnprocessable)
	ErrNoCodec     = wish.ErrNoCodec
	ErrNotSending  = fmt.Errorf("offer does not send media (WHIP offers are sendonly): %w", httpx.ErrUnprocessable)
	ErrBadFragment = wish.ErrBadFragment
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
	creds := wish.DescriptionCreds(&sd)
	info := OfferInfo{Ufrag: creds.Ufrag, Pwd: creds.Pwd}
	var videos, audios int
	for _, m := range sd.MediaDescriptions {
		switch m.MediaName.Media {
		case "video":
			videos++
			if err := checkSection(m, "H264", media.H264PacketizationMode1); err != nil {
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
