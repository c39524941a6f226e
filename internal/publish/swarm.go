package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// SwarmConfig configures a Swarm.
type SwarmConfig struct {
	Token          string        // optional bearer token for every member
	HTTPClient     *http.Client  // nil: a private client, closed with the Swarm
	ConnectTimeout time.Duration // ICE and DTLS after the answer (default 10 s)
	// Tick is how often the pacers look for due frames (default 5 ms): a
	// frame leaves at most Tick late, and each pacer wakes 1/Tick times a
	// second however many members it serves.
	Tick   time.Duration
	Logger *slog.Logger
}

// Swarm publishes one prepared Media as many WHIP publishers at once, as
// cheaply as real WebRTC allows: the media is packetized into RTP once for
// all members, a few pacer goroutines (one per CPU) send every member's due
// packets each tick, and members carry no RTCP interceptors (no NACK
// buffers, no TWCC). Each member is still a real pion PeerConnection with
// its own ICE, DTLS and SRTP, negotiated over WHIP like Publish.
//
// It is castnet's load generator: what it costs is the publishers', not
// the server's, and it costs the same whichever server it feeds.
type Swarm struct {
	cfg          SwarmConfig
	api          *webrtc.API
	video, audio *rtpClip
	ownClient    bool

	pacers  []*pacerShard
	next    atomic.Uint64 // round-robin over pacers
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	packets atomic.Int64
	bytes   atomic.Int64
	closed  sync.Once
}

// Member is one publisher of a Swarm.
type Member struct {
	URL       string
	pc        *webrtc.PeerConnection
	whip      whipSession
	tracks    []*clipTrack
	start     time.Time
	connected chan struct{}
	lost      chan struct{}
	stateOnce [2]sync.Once
	shard     *pacerShard
	failed    atomic.Bool // a write failed: the pacer skips it
	readers   sync.WaitGroup
	packets   atomic.Int64
}

// NewSwarm packetizes m for any number of members. m must outlive the
// Swarm.
func NewSwarm(m *Media, cfg SwarmConfig) (*Swarm, error) {
	if m == nil || (m.video == nil && m.audio == nil) {
		return nil, fmt.Errorf("%w: no prepared media", ErrConfig)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Swarm{cfg: cfg, video: packetize(m.video, true), audio: packetize(m.audio, false)}
	if cfg.HTTPClient == nil {
		s.cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		s.ownClient = true
	}
	var err error
	if s.api, err = swarmAPI(); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range runtime.GOMAXPROCS(0) {
		p := &pacerShard{members: map[*Member]struct{}{}, swarm: s}
		s.pacers = append(s.pacers, p)
		s.wg.Add(1)
		go p.run(s.ctx, cfg.Tick)
	}
	return s, nil
}

// swarmAPI is Publish's codecs and loopback settings without interceptors.
func swarmAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Codec, PayloadType: h264PayloadType}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec, PayloadType: opusPayloadType}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // see newAPI
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
		webrtc.WithSettingEngine(se)), nil
}

// Add publishes to url: offer, answer, connection; then the member's media
// starts from the clip's first frame. It returns once the member sends,
// or with the reason it could not.
func (s *Swarm) Add(ctx context.Context, url string) (*Member, error) {
	m, err := s.newMember(url)
	if err != nil {
		return nil, err
	}
	if err := s.connect(ctx, m); err != nil {
		s.drop(m, m.whip.location != nil)
		return nil, err
	}
	m.start = time.Now()
	m.shard = s.pacers[s.next.Add(1)%uint64(len(s.pacers))]
	m.shard.add(m)
	return m, nil
}

func (s *Swarm) newMember(u string) (*Member, error) {
	if _, err := url.Parse(u); err != nil {
		return nil, fmt.Errorf("%w: WHIP URL %q: %v", ErrConfig, u, err)
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("publish: peer connection: %w", err)
	}
	m := &Member{URL: u, pc: pc, connected: make(chan struct{}), lost: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			m.stateOnce[0].Do(func() { close(m.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			m.stateOnce[1].Do(func() { close(m.lost) })
		}
	})
	for _, t := range []struct {
		clip  *rtpClip
		codec webrtc.RTPCodecCapability
		id    string
	}{{s.video, h264Codec, "video"}, {s.audio, opusCodec, "audio"}} {
		if t.clip == nil || len(t.clip.frames) == 0 {
			continue
		}
		if err := m.addTrack(t.clip, t.codec, t.id); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	return m, nil
}

func (m *Member) addTrack(clip *rtpClip, codec webrtc.RTPCodecCapability, id string) error {
	track, err := webrtc.NewTrackLocalStaticRTP(codec, id, "castnet")
	if err != nil {
		return err
	}
	tr, err := m.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	seq := uint16(rand.Uint32())
	var pkt rtp.Packet
	ct := &clipTrack{clip: clip, ts0: rand.Uint32(), write: func(ts uint32, marker bool, payload []byte) error {
		pkt.Header = rtp.Header{Version: 2, Marker: marker, SequenceNumber: seq, Timestamp: ts}
		pkt.Payload = payload
		seq++
		return track.WriteRTP(&pkt)
	}}
	m.tracks = append(m.tracks, ct)
	// RTCP is drained so pion's buffers never fill; nothing here acts on it.
	m.readers.Add(1)
	go func() {
		defer m.readers.Done()
		for {
			if _, _, err := tr.Sender().ReadRTCP(); err != nil {
				return
			}
		}
	}()
	return nil
}

func (s *Swarm) connect(ctx context.Context, m *Member) error {
	offer, err := m.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("publish: offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(m.pc)
	if err := m.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("publish: offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	octx, cancel := context.WithTimeout(ctx, offerTimeout)
	ws, err := postOffer(octx, s.cfg.HTTPClient, m.URL, s.cfg.Token, m.pc.LocalDescription().SDP)
	cancel()
	if err != nil {
		return err
	}
	m.whip = ws
	if err := m.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ws.answer}); err != nil {
		return fmt.Errorf("publish: WHIP answer: %w", err)
	}
	timer := time.NewTimer(s.cfg.ConnectTimeout)
	defer timer.Stop()
	select {
	case <-m.connected:
		return nil
	case <-m.lost:
		return fmt.Errorf("%w: ICE/DTLS failed", ErrConnectionLost)
	case <-timer.C:
		return fmt.Errorf("%w within %s", ErrConnectTimeout, s.cfg.ConnectTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remove stops a member. With del it ends the WHIP session with a DELETE,
// as a person clicking Stop; without, the PeerConnection just closes, as a
// tab that crashed (the server notices by consent freshness).
func (s *Swarm) Remove(m *Member, del bool) {
	if m.shard != nil {
		m.shard.remove(m)
	}
	s.drop(m, del)
}

func (s *Swarm) drop(m *Member, del bool) {
	if del && m.whip.location != nil {
		ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
		if _, err := deleteSession(ctx, s.cfg.HTTPClient, m.whip.location, s.cfg.Token); err != nil {
			s.cfg.Logger.Warn("WHIP DELETE failed", "url", m.URL, "err", err)
		}
		cancel()
	}
	_ = m.pc.Close()
	m.readers.Wait()
}

// Lost is closed when the member's connection fails or closes.
func (m *Member) Lost() <-chan struct{} { return m.lost }

// Packets is how many RTP packets the member has sent.
func (m *Member) Packets() int64 { return m.packets.Load() }

// Sent is the RTP packets and bytes (header and payload) every member has
// handed to its transport so far.
func (s *Swarm) Sent() (packets, bytes int64) { return s.packets.Load(), s.bytes.Load() }

// Members is how many members are sending.
func (s *Swarm) Members() int {
	n := 0
	for _, p := range s.pacers {
		p.mu.Lock()
		n += len(p.members)
		p.mu.Unlock()
	}
	return n
}

// Close removes every member (with DELETE) and stops the pacers.
func (s *Swarm) Close() error {
	s.closed.Do(func() {
		var all []*Member
		for _, p := range s.pacers {
			p.mu.Lock()
			for m := range p.members {
				all = append(all, m)
			}
			p.mu.Unlock()
		}
		var wg sync.WaitGroup
		for _, m := range all {
			wg.Add(1)
			go func() { defer wg.Done(); s.Remove(m, true) }()
		}
		wg.Wait()
		s.cancel()
		s.wg.Wait()
		if s.ownClient {
			s.cfg.HTTPClient.CloseIdleConnections()
		}
	})
	return nil
}

// pacerShard sends the due frames of its members every tick.
type pacerShard struct {
	swarm   *Swarm
	mu      sync.Mutex
	members map[*Member]struct{}
	batch   []*Member
}

func (p *pacerShard) add(m *Member) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.members[m] = struct{}{}
}

func (p *pacerShard) remove(m *Member) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.members, m)
}

func (p *pacerShard) run(ctx context.Context, tick time.Duration) {
	defer p.swarm.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.sendDue(now)
		}
	}
}

// sendDue writes every frame that is due. The member list is copied under
// the lock so that Add and Remove never wait on network writes.
func (p *pacerShard) sendDue(now time.Time) {
	p.mu.Lock()
	p.batch = p.batch[:0]
	for m := range p.members {
		p.batch = append(p.batch, m)
	}
	p.mu.Unlock()
	var packets, bytes int64
	for _, m := range p.batch {
		if m.failed.Load() {
			continue
		}
		elapsed := now.Sub(m.start)
		for _, t := range m.tracks {
			for t.due(elapsed) {
				n, b, err := t.send()
				packets, bytes = packets+n, bytes+b
				m.packets.Add(n)
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						p.swarm.cfg.Logger.Debug("swarm write failed", "url", m.URL, "err", err)
					}
					m.failed.Store(true)
					break
				}
			}
		}
	}
	p.swarm.packets.Add(packets)
	p.swarm.bytes.Add(bytes)
}
