package glass

import (
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Payload types of the offers; any dynamic values would do.
const (
	h264PT = 102
	opusPT = 111
)

// h264Codec is what castnet's publisher offers: constrained baseline 3.1
// (what the encoder makes) in packetization mode 1 (FU-A and STAP-A).
func h264Codec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
}

func opusCodec() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}
}

// role picks the interceptors of an API.
type role int

const (
	// publisherRole: pion's defaults, as castnet publish has them (NACK
	// responder, RTCP reports, transport-wide CC).
	publisherRole role = iota
	// viewerRole: what a receiver needs to recover loss and report it, NACK
	// generator and receiver reports, and nothing a load of 200 viewers
	// in one process would pay for without using (stats, TWCC).
	viewerRole
)

// newAPI builds a pion API on loopback only: the bench never leaves the
// machine, and host candidates on other interfaces would only slow ICE.
func newAPI(r role) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Codec(), PayloadType: h264PT}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec(), PayloadType: opusPT}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := interceptors(r, me, reg); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// The node's ICE timeouts (internal/rtc), so both ends give up together.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

func interceptors(r role, me *webrtc.MediaEngine, reg *interceptor.Registry) error {
	if r == publisherRole {
		return webrtc.RegisterDefaultInterceptors(me, reg)
	}
	if err := webrtc.ConfigureNack(me, reg); err != nil {
		return err
	}
	return webrtc.ConfigureRTCPReports(reg)
}
