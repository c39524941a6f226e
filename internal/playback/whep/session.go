package whep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/relay"
	"github.com/castnet/castnet/internal/wish"
)

// Session ending reasons.
var (
	ErrNeverConnected   = errors.New("viewer never connected")
	ErrConnectionFailed = errors.New("connection to the viewer failed")
)

// session is one viewer's PeerConnection and the goroutines feeding it.
type session struct {
	srv    *Server
	id     string
	stream string
	remote string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	relay  *relay.Relay // set once the session is reserved, before start

	pc     *webrtc.PeerConnection
	peer   *wish.Peer
	tracks map[media.Kind]*outTrack

	mu        sync.Mutex
	fwd       *forwarder // set once the viewer plays
	closing   bool
	wg        sync.WaitGroup
	connected chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	offered   time.Time
	stats     counters
}

// outTrack is one of the viewer's tracks and its numbering: each viewer's
// sequence numbers and timestamps start at random offsets from the
// relay's (RFC 3550 §5.1), on top of its own SSRC.
type outTrack struct {
	kind   media.Kind
	local  *webrtc.TrackLocalStaticRTP
	sender *webrtc.RTPSender
	seqOff uint16
	tsOff  uint32
}

type counters struct {
	sent, retransmitted, nackMisses, nackRefused, plis atomic.Uint64
}

func newSession(s *Server, stream, remote string) *session {
	id := wish.RandomID()
	ctx, cancel := context.WithCancel(s.ctx)
	return &session{srv: s, id: id, stream: stream, remote: remote,
		log: s.log.With("stream", stream, "viewer", id), ctx: ctx, cancel: cancel,
		tracks: map[media.Kind]*outTrack{}, connected: make(chan struct{}), done: make(chan struct{}),
		offered: time.Now()}
}

// start builds the PeerConnection with a track per kind the viewer asks
// for and returns the answer once every local candidate is gathered.
func (ss *session) start(ctx context.Context, offer string, want Offer) (string, error) {
	pc, err := ss.srv.cfg.RTC.PlaybackAPI().NewPeerConnection(ss.srv.cfg.RTC.Configuration())
	if err != nil {
		return "", fmt.Errorf("new peer connection: %w", err)
	}
	ss.pc = pc
	for _, k := range kinds(want) {
		if err := ss.addTrack(k); err != nil {
			return "", err
		}
	}
	pc.OnConnectionStateChange(ss.onConnectionState)
	ss.peer = wish.NewPeer(pc, wish.PeerConfig{GatherTimeout: ss.srv.cfg.GatherTimeout,
		Rewrite: ss.srv.cfg.RTC.Answer, Logger: ss.log})
	answer, err := ss.peer.Answer(ctx, offer)
	if err != nil {
		return "", err
	}
	ss.goWatch()
	return answer, nil
}

func kinds(o Offer) []media.Kind {
	var ks []media.Kind
	if o.Video {
		ks = append(ks, media.KindVideo)
	}
	if o.Audio {
		ks = append(ks, media.KindAudio)
	}
	return ks
}

// addTrack adds a send track of kind, in the publisher's codec when the
// relay knows it, and starts reading its RTCP.
func (ss *session) addTrack(k media.Kind) error {
	local, err := webrtc.NewTrackLocalStaticRTP(capability(ss.relay, k), k.String(), "castnet-"+ss.stream)
	if err != nil {
		return err
	}
	sender, err := ss.pc.AddTrack(local)
	if err != nil {
		return fmt.Errorf("add %s track: %w", k, err)
	}
	t := &outTrack{kind: k, local: local, sender: sender, seqOff: uint16(rand.Uint32()), tsOff: rand.Uint32()}
	ss.tracks[k] = t
	if ss.track(1) {
		go ss.guarded(func() { ss.readRTCP(t) })
	}
	return nil
}

// capability is the codec a viewer's track is declared with: the
// publisher's, so the answer names the profile actually sent, or
// castnet's defaults before the publisher's tracks have started.
func capability(rel *relay.Relay, k media.Kind) webrtc.RTPCodecCapability {
	if c, ok := rel.Codec(k); ok {
		return webrtc.RTPCodecCapability{MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels, SDPFmtpLine: c.Fmtp}
	}
	if k == media.KindAudio {
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	}
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
}

// goWatch waits for the viewer to connect, then subscribes it.
func (ss *session) goWatch() {
	if !ss.track(1) {
		return
	}
	go ss.guarded(func() {
		t := time.NewTimer(ss.srv.cfg.ConnectTimeout)
		defer t.Stop()
		select {
		case <-ss.connected:
			ss.play()
		case <-ss.ctx.Done():
		case <-t.C:
			ss.close(fmt.Errorf("%w within %s of the offer", ErrNeverConnected, ss.srv.cfg.ConnectTimeout))
		}
	})
}

func (ss *session) onConnectionState(st webrtc.PeerConnectionState) {
	ss.log.Debug("connection state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		ss.markConnected()
	case webrtc.PeerConnectionStateFailed:
		ss.close(ErrConnectionFailed)
	case webrtc.PeerConnectionStateClosed:
		ss.close(nil)
	}
}

func (ss *session) markConnected() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	select {
	case <-ss.connected:
	default:
		close(ss.connected)
		ss.log.Info("viewer connected", "after", time.Since(ss.offered).Round(time.Millisecond))
	}
}

// track adds n goroutines to the session's wait group unless it is closing.
func (ss *session) track(n int) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return false
	}
	ss.wg.Add(n)
	return true
}

// guarded runs one of the session's goroutines; a panic ends the session
// alone.
func (ss *session) guarded(fn func()) {
	defer ss.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			ss.log.Error("viewer goroutine panicked; ending the session", "panic", r)
			ss.close(fmt.Errorf("internal error"))
		}
	}()
	fn()
}

// close ends the session; safe from any goroutine, idempotent.
func (ss *session) close(err error) {
	ss.closeOnce.Do(func() {
		ss.mu.Lock()
		ss.closing = true
		ss.mu.Unlock()
		ss.cancel()
		if ss.pc != nil {
			_ = ss.pc.Close()
		}
		go ss.finish(err)
	})
}

func (ss *session) finish(err error) {
	ss.wg.Wait()
	ss.log.Info("viewer session ended", "reason", err, "sent", ss.stats.sent.Load(),
		"retransmitted", ss.stats.retransmitted.Load(), "nack_misses", ss.stats.nackMisses.Load(),
		"nacks_over_budget", ss.stats.nackRefused.Load(), "keyframe_requests", ss.stats.plis.Load())
	ss.srv.release(ss)
	close(ss.done)
}
