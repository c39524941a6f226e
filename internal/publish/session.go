package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Publish sends m to cfg.URL once: offer, answer, ICE and DTLS, then frames
// paced in real time until cfg.Duration, the end of a file, or ctx ends.
// It returns nil then, unless the closing DELETE finds the server gone;
// a session that ends early returns a *SessionError (see the package
// doc). It always ends the WHIP session with a DELETE, unless the server
// already ended it, and closes the PeerConnection before returning. Many
// Publish calls may share one Media concurrently.
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
	s := &session{cfg: cfg, client: client, peer: p, media: m, log: cfg.Logger.With("url", cfg.URL),
		over: make(chan struct{})}
	st, err := s.run(ctx)
	return st, s.end(ctx, err)
}

// session is one publish from offer to DELETE.
type session struct {
	cfg    Config
	client *http.Client
	peer   *peer
	media  *Media
	log    *slog.Logger
	whip   whipSession // set once the server accepted the offer
	start  time.Time   // when the connection came up; zero before

	over     chan struct{} // closed with verdict set: the session ended early
	overOnce sync.Once
	verdict  *SessionError
}

func (s *session) run(ctx context.Context) (Stats, error) {
	if err := s.negotiate(ctx); err != nil {
		return Stats{}, err
	}
	if err := s.waitConnected(ctx); err != nil {
		return Stats{}, err
	}
	s.log.Info("connected", "session", s.whip.location.String())
	s.start = time.Now()
	pc := s.pacer(s.start)
	err := s.watching(ctx, func() error { return pc.run(ctx, s.over) })
	st := s.stats(time.Since(s.start), pc)
	switch {
	case s.verdict != nil:
		return st, s.verdict
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return st, nil // the person or the caller stopped publishing
	}
	return st, err
}

// watching runs send while watch looks out for the end of the session,
// and returns once both have stopped.
func (s *session) watching(ctx context.Context, send func() error) error {
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(wctx) })
	err := send()
	cancel()
	wg.Wait()
	return err
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
		return fmt.Errorf("%w: ICE/DTLS failed before connecting (state %s)", ErrConnectTimeout, s.peer.pc.ConnectionState())
	case <-timer.C:
		return fmt.Errorf("%w within %s (state %s): is the server's media port reachable?",
			ErrConnectTimeout, s.cfg.ConnectTimeout, s.peer.pc.ConnectionState())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// end deletes the WHIP session, even when ctx is over, unless the server
// already ended it, then closes the PeerConnection. It returns err, or
// what the DELETE showed of a session that seemed to end well.
func (s *session) end(ctx context.Context, err error) error {
	defer s.closePeer()
	if s.whip.location == nil || errors.Is(err, ErrEndedByServer) {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	code, derr := deleteSession(dctx, s.client, s.whip.location, s.cfg.Token)
	cancel()
	return s.afterDelete(err, code, derr)
}

func (s *session) closePeer() {
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
