// Package rtc is castnet's shared pion/webrtc setup: the codecs it accepts,
// the RTCP interceptors, and ICE networking (one UDP port, NAT address, ICE
// servers). Ingest (WHIP) and playback (WHEP) build PeerConnections over
// the same port, from APIs that differ only in their interceptors.
package rtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Config says how castnet's WebRTC endpoints reach and are reached by peers.
type Config struct {
	// UDPAddr is the single UDP address every PeerConnection shares (ICE UDP
	// mux), e.g. "127.0.0.1:8189", ":8189" or "local:8189" (every address,
	// this machine only: see ReachLocal); port 0 picks a free one.
	UDPAddr string
	// NATIPs are public addresses to advertise instead of the host address,
	// for a node behind 1:1 NAT or in a container with a published port.
	NATIPs []string
	// ICEServers are STUN/TURN servers, used by the node and advertised to
	// clients in WHIP responses.
	ICEServers []ICEServer
	// ReadBuffer is the kernel receive buffer of the UDP socket, in bytes
	// (0: DefaultReadBuffer; negative: the kernel's default).
	ReadBuffer int
	// Logger receives pion's warnings and errors.
	Logger *slog.Logger
}

// ICEServer is one STUN or TURN server (RFC 7064, RFC 7065 URIs).
type ICEServer struct {
	URL        string
	Username   string
	Credential string
}

// ParseICEServer reads "URL" or "URL,username,credential", the form of the
// -ice-server flag.
func ParseICEServer(s string) (ICEServer, error) {
	parts := strings.Split(s, ",")
	srv := ICEServer{URL: strings.TrimSpace(parts[0])}
	switch len(parts) {
	case 1:
	case 3:
		srv.Username, srv.Credential = parts[1], parts[2]
	default:
		return ICEServer{}, fmt.Errorf("ice server %q: want URL or URL,username,credential", s)
	}
	if !strings.HasPrefix(srv.URL, "stun:") && !strings.HasPrefix(srv.URL, "stuns:") &&
		!strings.HasPrefix(srv.URL, "turn:") && !strings.HasPrefix(srv.URL, "turns:") {
		return ICEServer{}, fmt.Errorf("ice server %q: URL must start with stun:, stuns:, turn: or turns:", s)
	}
	return srv, nil
}

// LinkHeader renders s as a WHIP Link header value (RFC 9725 §4.6).
func (s ICEServer) LinkHeader() string {
	v := fmt.Sprintf(`<%s>; rel="ice-server"`, s.URL)
	if s.Username != "" {
		v += fmt.Sprintf(`; username="%s"; credential="%s"; credential-type="password"`,
			quoteSafe(s.Username), quoteSafe(s.Credential))
	}
	return v
}

func quoteSafe(s string) string { return strings.NewReplacer(`"`, "", `\`, "").Replace(s) }

// RTC owns the shared UDP socket and the pion API built over it.
type RTC struct {
	api     *webrtc.API
	play    *webrtc.API
	conn    net.PacketConn
	mux     ice.UDPMux
	servers []ICEServer

	closeOnce sync.Once
	closeErr  error
}

// New opens the UDP port and builds the pion API.
func New(cfg Config) (*RTC, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UDPAddr == "" {
		cfg.UDPAddr = "127.0.0.1:0"
	}
	conn, err := listen(cfg.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("webrtc udp %s: %w", cfg.UDPAddr, err)
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	setReadBuffer(conn, cfg.ReadBuffer, cfg.Logger)
	r := &RTC{conn: conn, servers: cfg.ICEServers}
	lf := slogLoggerFactory{log: cfg.Logger.With("component", "pion")}
	r.mux = webrtc.NewICEUDPMux(muxLogger{lf.NewLogger("udpmux")}, conn)
	api, err := buildAPI(cfg, r.mux, lf, ingestInterceptors)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	play, err := buildAPI(cfg, r.mux, lf, playbackInterceptors)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	r.api, r.play = api, play
	return r, nil
}

// ingestInterceptors are a publisher's: NACK asks for lost packets again;
// RTCP reports give the publisher loss figures and give us sender reports
// to align audio with video; transport-wide congestion control feedback
// (draft-holmer-rmcat-transport-wide-cc-extensions) sends every received
// packet's arrival time back to the sender, whose delay-based estimator
// then ramps in seconds instead of climbing on loss reports alone.
func ingestInterceptors(me *webrtc.MediaEngine, ir *interceptor.Registry) error {
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return err
	}
	return webrtc.ConfigureTWCCSender(me, ir)
}

// playbackInterceptors are a viewer's: sender reports only, which a
// browser needs to play audio and video in sync. NACKs are answered by
// internal/relay from one cache per stream, not pion's responder, which
// keeps a copy of every packet per viewer; the node does no congestion
// control of a forwarded stream, so it asks for no feedback.
func playbackInterceptors(_ *webrtc.MediaEngine, ir *interceptor.Registry) error {
	return webrtc.ConfigureRTCPReports(ir)
}

func buildAPI(cfg Config, mux ice.UDPMux, lf logging.LoggerFactory,
	interceptors func(*webrtc.MediaEngine, *interceptor.Registry) error) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := interceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEUDPMux(mux)
	// Multicast DNS would send queries off loopback and cannot resolve
	// anything for a server anyway: browsers reach us through our host
	// candidate and appear as peer-reflexive.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	// Consent freshness (RFC 7675): a publisher that vanishes is noticed in
	// seconds, not the default half minute.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	if len(cfg.NATIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.NATIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
		}); err != nil {
			return nil, fmt.Errorf("nat ip: %w", err)
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), nil
}

// API is the pion API publishers' PeerConnections are created from.
func (r *RTC) API() *webrtc.API { return r.api }

// PlaybackAPI is the pion API viewers' PeerConnections are created from:
// the same codecs and UDP port, other interceptors (playbackInterceptors).
func (r *RTC) PlaybackAPI() *webrtc.API { return r.play }

// UDPAddr is the bound UDP address.
func (r *RTC) UDPAddr() net.Addr { return r.conn.LocalAddr() }

// LinkHeaders are the ICE servers as the Link header values of a WHIP or
// WHEP answer (RFC 9725 §4.6).
func (r *RTC) LinkHeaders() []string {
	links := make([]string, 0, len(r.servers))
	for _, s := range r.servers {
		links = append(links, s.LinkHeader())
	}
	return links
}

// ICEServers returns the configured STUN/TURN servers.
func (r *RTC) ICEServers() []ICEServer { return r.servers }

// Configuration is the PeerConnection configuration for a server-side peer.
func (r *RTC) Configuration() webrtc.Configuration {
	cfg := webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire}
	for _, s := range r.servers {
		srv := webrtc.ICEServer{URLs: []string{s.URL}}
		if s.Username != "" {
			srv.Username, srv.Credential = s.Username, s.Credential
		}
		cfg.ICEServers = append(cfg.ICEServers, srv)
	}
	return cfg
}

// Close releases the UDP port; idempotent.
func (r *RTC) Close() error {
	r.closeOnce.Do(func() {
		var errs []error
		if r.mux != nil {
			errs = append(errs, r.mux.Close())
		}
		errs = append(errs, r.conn.Close())
		r.closeErr = errors.Join(errs...)
		if errors.Is(r.closeErr, net.ErrClosed) {
			r.closeErr = nil
		}
	})
	return r.closeErr
}
