package publish

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The only codecs offered. profile-level-id 42e01f is constrained baseline
// level 3.1, what Prepare encodes; packetization-mode=1 allows the FU-A and
// STAP-A packets pion sends (RFC 6184 section 6.3).
var (
	h264Codec = webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeH264,
		ClockRate:   90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}
	opusCodec = webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeOpus,
		ClockRate:   opusRate,
		Channels:    2,
		SDPFmtpLine: "minptime=10;useinbandfec=1",
	}
)

// Payload types of the offer; any dynamic values would do.
const (
	h264PayloadType = 102
	opusPayloadType = 111
)

// The ICE timeouts castnet's node uses (internal/rtc): consent freshness
// (RFC 7675) checks every 2 s, disconnected after 5 s without an answer,
// failed 10 s after that. With pion's defaults (failed 25 s after
// disconnected) a publisher would keep "sending" for half a minute into a
// node that is gone; with the node's own, both ends give up together.
const (
	iceDisconnectedTimeout = 5 * time.Second
	iceFailedTimeout       = 10 * time.Second
	iceKeepalive           = 2 * time.Second
)

// counters are updated from pion's goroutines and read by the progress
// line and Stats.
type counters struct {
	bytes, packets, plis, nacks atomic.Int64
	heard                       atomic.Int64 // UnixNano of the last RTCP from the server, 0 for none
}

// lastHeard is when the server last sent RTCP, zero if it never did.
func (c *counters) lastHeard() time.Time {
	if ns := c.heard.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// peer is the sending PeerConnection and what watches it.
type peer struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticSample // nil when the Media lacks the track
	count        *counters
	connected    chan struct{} // closed on the first connected state
	lost         chan struct{} // closed on failed or closed
	disconnected chan struct{} // signalled (capacity 1) on each ICE disconnected
	connOnce     sync.Once
	lostOnce     sync.Once
	wasDown      atomic.Bool    // ICE has been disconnected at least once
	readers      sync.WaitGroup // RTCP readers, one per sender
}

// newPeer builds a PeerConnection with a sendonly transceiver per track m
// holds.
func newPeer(endpoint *url.URL, m *Media) (*peer, error) {
	p := &peer{count: &counters{}, connected: make(chan struct{}), lost: make(chan struct{}),
		disconnected: make(chan struct{}, 1)}
	api, err := newAPI(endpoint, p.count)
	if err != nil {
		return nil, err
	}
	if p.pc, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return nil, err
	}
	p.pc.OnConnectionStateChange(p.onState)
	p.pc.OnICEConnectionStateChange(p.onICEState)
	if err := p.addTracks(m); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// newAPI registers only H.264 and Opus, pion's default interceptors (NACK
// responder, RTCP reports, TWCC) and, closest to the network so that it
// sees retransmissions too, a counter of what is sent.
func newAPI(endpoint *url.URL, count *counters) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Codec, PayloadType: h264PayloadType}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec, PayloadType: opusPayloadType}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	reg.Add(countingFactory{count})
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	// A publisher never meets .local candidates from a WHIP server, and
	// an mDNS socket per PeerConnection only costs a load generator.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// pion leaves out loopback candidates; a server on this host may
	// listen on nothing else.
	se.SetIncludeLoopbackCandidate(isLoopbackHost(endpoint.Hostname()))
	se.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepalive)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *peer) addTracks(m *Media) error {
	var err error
	if m.video != nil {
		if p.video, err = p.addTrack(h264Codec, "video"); err != nil {
			return err
		}
	}
	if m.audio != nil {
		if p.audio, err = p.addTrack(opusCodec, "audio"); err != nil {
			return err
		}
	}
	return nil
}

// addTrack adds a sendonly transceiver, as a WHIP offer has (RFC 9725
// section 4.2), and starts reading its RTCP: interceptors such as the NACK
// responder only see RTCP that is read.
func (p *peer) addTrack(codec webrtc.RTPCodecCapability, id string) (*webrtc.TrackLocalStaticSample, error) {
	track, err := webrtc.NewTrackLocalStaticSample(codec, id, "castnet")
	if err != nil {
		return nil, err
	}
	tr, err := p.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	p.readers.Add(1)
	go p.readRTCP(tr.Sender())
	return track, nil
}

// readRTCP counts PLIs and NACKs until the sender stops.
func (p *peer) readRTCP(s *webrtc.RTPSender) {
	defer p.readers.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		p.count.heard.Store(time.Now().UnixNano())
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.count.plis.Add(1)
			case *rtcp.TransportLayerNack:
				p.count.nacks.Add(1)
			}
		}
	}
}

func (p *peer) onState(s webrtc.PeerConnectionState) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		p.connOnce.Do(func() { close(p.connected) })
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		p.lostOnce.Do(func() { close(p.lost) })
	}
}

// onICEState tells the session each time ICE stops hearing answers to its
// consent checks: often the first sign that the server is gone.
func (p *peer) onICEState(s webrtc.ICEConnectionState) {
	if s != webrtc.ICEConnectionStateDisconnected {
		return
	}
	p.wasDown.Store(true)
	select {
	case p.disconnected <- struct{}{}:
	default: // one pending signal is enough
	}
}

// close closes the PeerConnection and waits for its goroutines and the
// RTCP readers to end.
func (p *peer) close() error {
	err := p.pc.GracefulClose()
	p.readers.Wait()
	return err
}

// countingFactory makes the interceptor that counts outgoing RTP.
type countingFactory struct{ count *counters }

// NewInterceptor implements interceptor.Factory.
func (f countingFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &countingInterceptor{count: f.count}, nil
}

type countingInterceptor struct {
	interceptor.NoOp
	count *counters
}

// BindLocalStream wraps the writer towards the transport.
func (c *countingInterceptor) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		n, err := w.Write(h, payload, a)
		if err == nil {
			c.count.packets.Add(1)
			c.count.bytes.Add(int64(h.MarshalSize() + len(payload)))
		}
		return n, err
	})
}
