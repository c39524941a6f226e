package whip

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/wish"
)

// Session ending reasons, handed to the Sink's Close (the broadcaster shows
// them as the stream's last error).
var (
	// ErrNeverConnected: ICE and DTLS did not complete within ConnectTimeout.
	ErrNeverConnected = errors.New("publisher never connected")
	// ErrConnectionFailed: a connected publisher's ICE failed (consent
	// freshness, RFC 7675).
	ErrConnectionFailed = errors.New("connection to the publisher failed")
	// ErrMediaTimeout: a connected publisher sent no RTP for MediaTimeout.
	ErrMediaTimeout  = errors.New("no media from the publisher")
	ErrGatherTimeout = wish.ErrGatherTimeout
)

// session is one publisher's PeerConnection and the goroutines reading it.
type session struct {
	srv    *Server
	id     string
	stream string
	remote string
	info   OfferInfo
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	// auth is the Authorization header that created the session, and
	// payer who its segments are billed to (Commit's).
	auth  string
	payer fmt.Stringer
	// owner is who publishes with auth (Admitter.Owner), "" for nobody
	// in particular.
	owner string

	pc *webrtc.PeerConnection
	// peer signals for pc: the ETag, the publisher's ICE credentials, PATCH.
	// Stats reads it from any goroutine, so it is stored once pc exists.
	peer atomic.Pointer[wish.Peer]
	sink Sink

	sinkMu sync.Mutex // serializes WriteAccessUnit between the audio and video readers
	tl     *media.Timeline

	mu        sync.Mutex // guards the fields below
	closing   bool
	closeErr  error
	wg        sync.WaitGroup // track and RTCP readers
	connected chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	videoSSRC    atomic.Uint32
	lastPLI      atomic.Int64
	offered      time.Time   // when the offer came (set before any goroutine starts)
	iceConnected atomic.Bool // ICE found a pair (DTLS may still fail)
	stats        counters
}

type counters struct {
	state                    atomic.Value // string
	pktsVideo, pktsAudio     atomic.Uint64
	bytes, lost, broken, pli atomic.Uint64
	remoteAddr               atomic.Value // string
	// Unix nanoseconds, 0 until it happens.
	connected, firstMedia, lastPacket atomic.Int64
}

func newSession(s *Server, stream, remote string, info OfferInfo) *session {
	id := wish.RandomID()
	ctx, cancel := context.WithCancel(s.ctx)
	ss := &session{srv: s, id: id, stream: stream, remote: remote, info: info,
		log: s.log.With("stream", stream, "session", id), ctx: ctx, cancel: cancel,
		tl: media.NewTimeline(time.Now), offered: time.Now(), connected: make(chan struct{}), done: make(chan struct{})}
	ss.stats.state.Store("new")
	ss.stats.remoteAddr.Store("")
	return ss
}

// mayTakeOver says whether ss may take the name from old: same owner,
// and old has received nothing for TakeoverIdle.
func (ss *session) mayTakeOver(old *session) bool {
	if ss.owner == "" || subtle.ConstantTimeCompare([]byte(ss.owner), []byte(old.owner)) != 1 {
		return false
	}
	last := max(old.stats.lastPacket.Load(), old.offered.UnixNano())
	return time.Since(time.Unix(0, last)) >= TakeoverIdle
}

// start opens the sink, negotiates the PeerConnection and returns the SDP
// answer once every local candidate is gathered (WHIP servers cannot
// trickle, RFC 9725 §4.3).
func (ss *session) start(reqCtx context.Context, offer string) (string, error) {
	sink, err := ss.srv.cfg.Starter.StartStream(ss.ctx, Publish{
		Stream: ss.stream, Session: ss.id, RemoteAddr: ss.remote,
		Video: ss.info.Video, Audio: ss.info.Audio,
		RequestKeyframe: ss.requestKeyframe, Stats: ss.Stats, Payer: ss.payer, Owner: ss.owner,
	})
	if err != nil {
		return "", err
	}
	ss.sink = sink
	pc, err := ss.srv.cfg.RTC.API().NewPeerConnection(ss.srv.cfg.RTC.Configuration())
	if err != nil {
		return "", fmt.Errorf("new peer connection: %w", err)
	}
	ss.pc = pc
	peer := wish.NewPeer(pc, wish.PeerConfig{GatherTimeout: ss.srv.cfg.GatherTimeout,
		Rewrite: ss.srv.cfg.RTC.Answer, Logger: ss.log})
	ss.peer.Store(peer)
	pc.OnTrack(ss.onTrack)
	pc.OnConnectionStateChange(ss.onConnectionState)
	pc.OnICEConnectionStateChange(ss.onICEState)
	answer, err := peer.Answer(reqCtx, offer)
	if err != nil {
		return "", err
	}
	ss.goWatch()
	return answer, nil
}

// goWatch ends the session if the publisher does not connect in time, or
// once connected stops sending media.
func (ss *session) goWatch() {
	if !ss.track(1) {
		return
	}
	go func() {
		defer ss.wg.Done()
		if ss.awaitConnected() {
			ss.watchMedia()
		}
	}()
}

// awaitConnected waits for ICE and DTLS, and ends the session with
// ErrNeverConnected if ConnectTimeout passes first.
func (ss *session) awaitConnected() bool {
	t := time.NewTimer(ss.srv.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-ss.connected:
		return true
	case <-ss.ctx.Done():
		return false
	case <-t.C:
		ss.close(ss.neverConnected())
		return false
	}
}

// neverConnected is the reason a session that never connected ends with,
// whether ConnectTimeout passed or pion's ICE agent gave up first: it
// fails a check list that found no pair after its disconnected plus failed
// timeouts (internal/rtc sets 5 s + 10 s), which is why ConnectTimeout
// defaults to the same 15 s.
func (ss *session) neverConnected() error {
	what := "no ICE candidate pair worked"
	if ss.iceConnected.Load() {
		what = "ICE connected but the DTLS handshake did not complete"
	}
	after := time.Since(ss.offered).Round(100 * time.Millisecond)
	ss.log.Warn("publisher never connected", "after", after, "reason", what)
	return fmt.Errorf("%w within %s of the offer: %s", ErrNeverConnected, after, what)
}

// watchMedia ends a connected session once no RTP packet has come for
// MediaTimeout (counted from the connection until the first packet): ICE
// consent keeps such a session up, yet it has nothing to publish.
func (ss *session) watchMedia() {
	timeout := ss.srv.cfg.MediaTimeout
	tick := time.NewTicker(timeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-ss.ctx.Done():
			return
		case now := <-tick.C:
			last := max(ss.stats.lastPacket.Load(), ss.stats.connected.Load())
			if silent := now.Sub(time.Unix(0, last)); silent >= timeout {
				ss.log.Warn("no media from the publisher; ending the session", "silent", silent.Round(time.Millisecond),
					"packets_video", ss.stats.pktsVideo.Load(), "packets_audio", ss.stats.pktsAudio.Load())
				ss.close(fmt.Errorf("%w for %s", ErrMediaTimeout, timeout))
				return
			}
		}
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

func (ss *session) onConnectionState(st webrtc.PeerConnectionState) {
	ss.stats.state.Store(st.String())
	ss.log.Debug("connection state", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		ss.onConnected()
	case webrtc.PeerConnectionStateFailed:
		if ss.markConnected(false) {
			ss.close(ErrConnectionFailed)
		} else {
			ss.close(ss.neverConnected())
		}
	case webrtc.PeerConnectionStateClosed:
		ss.close(nil)
	}
}

func (ss *session) onICEState(st webrtc.ICEConnectionState) {
	ss.log.Debug("ice state", "state", st.String())
	if st == webrtc.ICEConnectionStateConnected {
		ss.iceConnected.Store(true)
	}
}

// onConnected: ICE and DTLS are up, first or again after an ICE restart.
func (ss *session) onConnected() {
	first := !ss.markConnected(true)
	addr := ss.recordRemoteAddr()
	if first {
		ss.stats.connected.Store(time.Now().UnixNano())
		ss.log.Info("publisher connected", "remote", addr, "after", time.Since(ss.offered).Round(time.Millisecond))
	} else {
		ss.log.Info("publisher reconnected", "remote", addr)
	}
	ss.requestKeyframe()
}

// markConnected reports whether the session had connected before, and
// records that it has if now is set.
func (ss *session) markConnected(now bool) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	select {
	case <-ss.connected:
		return true
	default:
		if now {
			close(ss.connected)
		}
		return false
	}
}

// recordRemoteAddr keeps and returns the publisher's address on the pair
// ICE selected.
func (ss *session) recordRemoteAddr() string {
	sctp := ss.pc.SCTP()
	if sctp == nil {
		return ""
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return ""
	}
	addr := net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port)))
	ss.stats.remoteAddr.Store(addr)
	return addr
}

// requestKeyframe sends a PLI (RFC 4585 §6.3.1) for the video track, at most
// every 250 ms: browsers answer each one with a full IDR, so more would
// only waste their bitrate.
func (ss *session) requestKeyframe() {
	ssrc := ss.videoSSRC.Load()
	if ssrc == 0 || ss.ctx.Err() != nil {
		return
	}
	now := time.Now().UnixNano()
	last := ss.lastPLI.Load()
	if now-last < int64(250*time.Millisecond) || !ss.lastPLI.CompareAndSwap(last, now) {
		return
	}
	ss.stats.pli.Add(1)
	if err := ss.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		ss.log.Debug("pli not sent", "err", err)
	}
}

// Stats reports the session's transport counters.
func (ss *session) Stats() SessionStats {
	var trickled, discarded uint64
	if p := ss.peer.Load(); p != nil {
		trickled, discarded = p.Trickled()
	}
	return SessionStats{
		State:               ss.stats.state.Load().(string),
		PacketsVideo:        ss.stats.pktsVideo.Load(),
		PacketsAudio:        ss.stats.pktsAudio.Load(),
		BytesReceived:       ss.stats.bytes.Load(),
		PacketsLost:         ss.stats.lost.Load(),
		BrokenFrames:        ss.stats.broken.Load(),
		KeyframeAsks:        ss.stats.pli.Load(),
		CandidatesTrickled:  trickled,
		CandidatesDiscarded: discarded,
		RemoteCandAddr:      ss.stats.remoteAddr.Load().(string),
		Connected:           unixTime(ss.stats.connected.Load()),
		FirstMedia:          unixTime(ss.stats.firstMedia.Load()),
		LastPacket:          unixTime(ss.stats.lastPacket.Load()),
	}
}

// unixTime is the time of Unix nanoseconds ns, zero for 0.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// close ends the session: reads are unblocked by closing the
// PeerConnection, and once every reader has returned the sink is closed and
// the stream name released. Safe from any goroutine, including the readers.
func (ss *session) close(err error) {
	ss.closeOnce.Do(func() {
		ss.mu.Lock()
		ss.closing = true
		ss.closeErr = err
		ss.mu.Unlock()
		ss.cancel()
		if ss.pc != nil {
			_ = ss.pc.Close()
		}
		go ss.finish(err)
	})
}

// abandon ends a session that never started and waits for it, so its
// stream name is free before the POST is answered: a publisher that
// retries at once is not told the stream is live.
func (ss *session) abandon(err error) {
	ss.close(err)
	select {
	case <-ss.done:
	case <-time.After(5 * time.Second):
	}
}

func (ss *session) finish(err error) {
	ss.wg.Wait()
	if ss.sink != nil {
		ss.sink.Close(err)
	}
	if err != nil {
		ss.log.Info("session ended", "reason", err)
	} else {
		ss.log.Info("session ended")
	}
	ss.srv.release(ss)
	close(ss.done)
}
