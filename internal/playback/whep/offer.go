package whep

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/media"
)

// Offer errors: each says what to fix.
var (
	ErrBadSDP     = fmt.Errorf("unparsable SDP offer: %w", httpx.ErrBadRequest)
	ErrNoMedia    = fmt.Errorf("offer has no audio or video section: %w", httpx.ErrUnprocessable)
	ErrManyTracks = fmt.Errorf("offer has more than one audio or video section (a WHEP stream has one of each): %w", httpx.ErrUnprocessable)
	ErrNoCodec    = fmt.Errorf("no usable codec: %w", httpx.ErrUnprocessable)
	ErrNotRecv    = fmt.Errorf("offer does not receive media (WHEP offers are recvonly): %w", httpx.ErrUnprocessable)
)

// Offer is what a viewer's offer asks for.
type Offer struct {
	Video, Audio bool
}

// CheckOffer parses a viewer's SDP offer: at most one audio and one video
// section, each receiving (recvonly, or sendrecv: what it sends is
// ignored), with H.264 (packetization-mode=1) for video and Opus for
// audio, which is what castnet forwards.
func CheckOffer(offer []byte) (Offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(offer)); err != nil {
		return Offer{}, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	var o Offer
	for _, m := range sd.MediaDescriptions {
		if err := o.add(m); err != nil {
			return Offer{}, err
		}
	}
	if !o.Video && !o.Audio {
		return Offer{}, ErrNoMedia
	}
	return o, nil
}

// add checks one media section and counts it.
func (o *Offer) add(m *sdp.MediaDescription) error {
	var seen *bool
	var codec string
	switch m.MediaName.Media {
	case "video":
		seen, codec = &o.Video, "H264"
	case "audio":
		seen, codec = &o.Audio, "opus"
	default:
		return nil // a data channel, say: not answered
	}
	if *seen {
		return ErrManyTracks
	}
	*seen = true
	for _, dir := range []string{"sendonly", "inactive"} {
		if _, has := m.Attribute(dir); has {
			return fmt.Errorf("%s section is %s: %w", m.MediaName.Media, dir, ErrNotRecv)
		}
	}
	return offersCodec(m, codec)
}

// offersCodec requires m to list codec (by rtpmap encoding name), H.264
// with packetization-mode=1 (RFC 6184 §8.1: mode 0 is the default).
func offersCodec(m *sdp.MediaDescription, codec string) error {
	fmtps := map[string]string{}
	var offered []string
	for _, a := range m.Attributes {
		if a.Key == "fmtp" {
			pt, params, _ := strings.Cut(a.Value, " ")
			fmtps[pt] = params
		}
	}
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, _ := strings.Cut(a.Value, " ")
		name, _, _ := strings.Cut(enc, "/")
		if strings.EqualFold(name, codec) && (codec != "H264" || media.H264PacketizationMode1(fmtps[pt])) {
			return nil
		}
		offered = append(offered, name)
	}
	return fmt.Errorf("%w: the %s section offers [%s]; castnet forwards %s", ErrNoCodec, m.MediaName.Media,
		strings.Join(offered, " "), codec)
}
