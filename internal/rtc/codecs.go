package rtc

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// Payload types are the answerer's choice only when the offer leaves them
// open; pion answers with the offerer's numbers, so these just need to be
// distinct.
const (
	ptOpus = 111
)

// h264Profiles are the video codecs castnet accepts. Only H.264 is
// registered, so whatever else a browser lists first (usually VP8), the
// answer selects H.264; among H.264 profiles pion keeps the offer's order.
// Only packetization-mode=1 is accepted:
// mode 0 (one NAL per packet) is not what any browser sends by default and
// would cap frame size at the MTU.
var h264Profiles = []struct {
	pt  webrtc.PayloadType
	pli string
}{
	{102, "42e01f"}, // constrained baseline, the profile every browser offers
	{106, "42001f"}, // baseline
	{108, "4d001f"}, // main
	{112, "64001f"}, // high
}

func registerCodecs(me *webrtc.MediaEngine) error {
	// No goog-remb: the node sends transport-wide feedback (rtc.go), not
	// REMB, and answering with it would promise estimates that never come.
	fb := []webrtc.RTCPFeedback{
		{Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
	for _, p := range h264Profiles {
		c := webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType:     webrtc.MimeTypeH264,
				ClockRate:    90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + p.pli,
				RTCPFeedback: fb,
			},
			PayloadType: p.pt,
		}
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("register h264 %s: %w", p.pli, err)
		}
	}
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: ptOpus,
	}
	if err := me.RegisterCodec(opus, webrtc.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("register opus: %w", err)
	}
	return nil
}
