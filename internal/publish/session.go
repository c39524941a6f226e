package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/pion/webrtc/v4"
)

// Publish sends m to cfg.URL once: offer, answer, ICE and DTLS, then frames
// paced in real time until cfg.Duration, the end of a file, or ctx ends
// (which returns nil once sending has begun). It always ends the WHIP
// session with a DELETE and closes the PeerConnection before returning.
// Many Publish calls may share one Media concurrently.
func Publish(ctx context.Context, cfg Config, m *Media) (Stats, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	if m == nil || (m.video == nil && m.audio == nil) {
		return Stats{}, fmt.Errorf("%w: no prepared media", ErrConfig)
	}
	endpoint, err := url.Parse(cfg.URL)
	if err != nil || (endpoint.Scheme != "http" && endpoint.Scheme != "https") {
		return Stats{}, fmt.Errorf("%w: WHIP URL %q is not an HTTP URL", ErrConfig, cfg.URL)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		defer client.CloseIdleConnections()
	}
	p, err := newPeer(endpoint, m)
	if err != nil {
		return Stats{}, fmt.Errorf("publish: peer connection: %w", err)
	}
	s := &session{cfg: cfg, client: client, peer: p, media: m, log: cfg.Logger.With("url", cfg.URL)}
	st, err := s.run(ctx)
	s.end(ctx)
	return st, err
}

// session is one publish from offer to DELETE.
type session struct {
	cfg    Config
	client *http.Client
	peer   *peer
	media  *Media
	log    *slog.Logger
	whip   whipSession // set once the server accepted the offer
}

func (s *session) run(ctx context.Context) (Stats, error) {
	if err := s.negotiate(ctx); err != nil {
		return Stats{}, err
	}
	if err := s.waitConnected(ctx); err != nil {
		return Stats{}, err
	}
	s.log.Info("connected", "session", s.whip.location.String())
	start := time.Now()
	pc := s.pacer(start)
	err := pc.run(ctx, s.peer.lost)
	st := s.stats(time.Since(start), pc)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil // the person or the caller stopped publishing
	}
	return st, err
}

// negotiate makes a complete offer, posts it and applies the answer.
// Gathering everything first means no trickle: that would need PATCH, which
// a WHIP server need not support (RFC 9725 section 4.3).
func (s *session) negotiate(ctx context.Context) error {
	pc := s.peer.pc
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("publish: offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("publish: offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	octx, cancel := context.WithTimeout(ctx, offerTimeout)
	ws, err := postOffer(octx, s.client, s.cfg.URL, s.cfg.Token, pc.LocalDescription().SDP)
	cancel()
	if err != nil {
		return err
	}
	s.whip = ws
	s.useICEServers(ws.iceServers)
	answer := webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ws.answer}
	if err := pc.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("publish: WHIP answer: %w", err)
	}
	return nil
}

// useICEServers takes the servers the 201 offered. Gathering is over by
// then, so they only serve a later ICE restart; they are logged so a
// person can see what the server suggested.
func (s *session) useICEServers(servers []webrtc.ICEServer) {
	if len(servers) == 0 {
		return
	}
	for _, srv := range servers {
		s.log.Info("WHIP server offers ICE server", "ice_url", srv.URLs[0], "username", srv.Username)
	}
	conf := s.peer.pc.GetConfiguration()
	conf.ICEServers = servers
	if err := s.peer.pc.SetConfiguration(conf); err != nil {
		s.log.Warn("ignoring ICE servers from WHIP server", "err", err)
	}
}

func (s *session) waitConnected(ctx context.Context) error {
	timer := time.NewTimer(s.cfg.ConnectTimeout)
	defer timer.Stop()
	select {
	case <-s.peer.connected:
		return nil
	case <-s.peer.lost:
		return fmt.Errorf("%w: ICE/DTLS failed (state %s)", ErrConnectionLost, s.peer.pc.ConnectionState())
	case <-timer.C:
		return fmt.Errorf("%w within %s (state %s): is the server's media port reachable?",
			ErrConnectTimeout, s.cfg.ConnectTimeout, s.peer.pc.ConnectionState())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// end deletes the WHIP session, even when ctx is over, and closes the
// PeerConnection.
func (s *session) end(ctx context.Context) {
	if s.whip.location != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
		code, err := deleteSession(dctx, s.client, s.whip.location, s.cfg.Token)
		cancel()
		switch {
		case err != nil:
			s.log.Warn("WHIP DELETE failed", "err", err)
		case code != http.StatusOK && code != http.StatusNoContent:
			s.log.Warn("WHIP DELETE answered", "status", code)
		}
	}
	if err := s.peer.close(); err != nil {
		s.log.Debug("closing peer connection", "err", err)
	}
}

func (s *session) stats(d time.Duration, p *pacer) Stats {
	c := s.peer.count
	st := Stats{
		Bytes: c.bytes.Load(), Packets: c.packets.Load(),
		PLIs: c.plis.Load(), NACKs: c.nacks.Load(), Duration: d,
	}
	if p.video != nil {
		st.VideoFrames = p.video.sent
	}
	if p.audio != nil {
		st.AudioFrames = p.audio.sent
	}
	return st
}
