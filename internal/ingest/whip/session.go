package whip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/media"
)

// Session ending reasons.
var (
	ErrNeverConnected   = errors.New("publisher never connected (ICE/DTLS did not complete)")
	ErrConnectionFailed = errors.New("connection to the publisher failed")
	ErrGatherTimeout    = fmt.Errorf("ICE gathering did not finish: %w", httpx.ErrGatewayTimeout)
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
	// admitted the Admitter's done func (nil without an Admitter).
	auth     string
	admitted func()

	pc   *webrtc.PeerConnection
	sink Sink

	sinkMu sync.Mutex // serializes WriteAccessUnit between the audio and video readers
	tl     *media.Timeline

	mu        sync.Mutex // guards the fields below
	etag      string
	offer     string
	ufrag     string
	closing   bool
	closeErr  error
	wg        sync.WaitGroup // track and RTCP readers
	connected chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	videoSSRC atomic.Uint32
	lastPLI   atomic.Int64
	stats     counters
}

type counters struct {
	state                    atomic.Value // string
	pktsVideo, pktsAudio     atomic.Uint64
	bytes, lost, broken, pli atomic.Uint64
	remoteAddr               atomic.Value // string
}

func newSession(s *Server, stream, remote string, info OfferInfo) *session {
	id := randomID()
	ctx, cancel := context.WithCancel(s.ctx)
	ss := &session{srv: s, id: id, stream: stream, remote: remote, info: info,
		log: s.log.With("stream", stream, "session", id), ctx: ctx, cancel: cancel,
		etag: newETag(), ufrag: info.Ufrag, tl: media.NewTimeline(time.Now),
		connected: make(chan struct{}), done: make(chan struct{})}
	ss.stats.state.Store("new")
	ss.stats.remoteAddr.Store("")
	return ss
}

func newETag() string { return `"` + randomID() + `"` }

// start opens the sink, negotiates the PeerConnection and returns the SDP
// answer once every local candidate is gathered (WHIP servers cannot
// trickle, RFC 9725 §4.3).
func (ss *session) start(reqCtx context.Context, offer string) (string, error) {
	sink, err := ss.srv.cfg.Starter.StartStream(ss.ctx, Publish{
		Stream: ss.stream, Session: ss.id, RemoteAddr: ss.remote,
		Video: ss.info.Video, Audio: ss.info.Audio,
		RequestKeyframe: ss.requestKeyframe, Stats: ss.Stats,
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
	pc.OnTrack(ss.onTrack)
	pc.OnConnectionStateChange(ss.onConnectionState)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCodec, err)
	}
	answer, err := ss.negotiate(reqCtx)
	if err != nil {
		return "", err
	}
	ss.mu.Lock()
	ss.offer = offer
	ss.mu.Unlock()
	ss.goWatch()
	return answer, nil
}

// negotiate creates and applies an answer to the remote offer just set and
// waits for gathering to complete.
func (ss *session) negotiate(ctx context.Context) (string, error) {
	answer, err := ss.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCodec, err)
	}
	gathered := webrtc.GatheringCompletePromise(ss.pc)
	if err := ss.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(ss.srv.cfg.GatherTimeout):
		return "", ErrGatherTimeout
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return ss.pc.LocalDescription().SDP, nil
}

// goWatch ends the session if the publisher does not connect in time.
func (ss *session) goWatch() {
	if !ss.track(1) {
		return
	}
	go func() {
		defer ss.wg.Done()
		t := time.NewTimer(ss.srv.cfg.ConnectTimeout)
		defer t.Stop()
		select {
		case <-ss.connected:
		case <-ss.ctx.Done():
		case <-t.C:
			ss.log.Warn("publisher never connected", "timeout", ss.srv.cfg.ConnectTimeout)
			ss.close(ErrNeverConnected)
		}
	}()
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
		ss.mu.Lock()
		select {
		case <-ss.connected:
		default:
			close(ss.connected)
		}
		ss.mu.Unlock()
		ss.recordRemoteAddr()
		ss.requestKeyframe()
	case webrtc.PeerConnectionStateFailed:
		ss.close(ErrConnectionFailed)
	case webrtc.PeerConnectionStateClosed:
		ss.close(nil)
	}
}

func (ss *session) recordRemoteAddr() {
	sctp := ss.pc.SCTP()
	if sctp == nil {
		return
	}
	if pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair(); err == nil && pair != nil {
		ss.stats.remoteAddr.Store(fmt.Sprintf("%s:%d", pair.Remote.Address, pair.Remote.Port))
	}
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
	return SessionStats{
		State:          ss.stats.state.Load().(string),
		PacketsVideo:   ss.stats.pktsVideo.Load(),
		PacketsAudio:   ss.stats.pktsAudio.Load(),
		BytesReceived:  ss.stats.bytes.Load(),
		PacketsLost:    ss.stats.lost.Load(),
		BrokenFrames:   ss.stats.broken.Load(),
		KeyframeAsks:   ss.stats.pli.Load(),
		RemoteCandAddr: ss.stats.remoteAddr.Load().(string),
	}
}

func (ss *session) currentETag() string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.etag
}

func (ss *session) remoteUfrag() string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.ufrag
}

// addCandidates applies trickled remote candidates.
func (ss *session) addCandidates(cands []string) error {
	for _, c := range cands {
		if err := ss.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: "candidate:" + c}); err != nil {
			return err
		}
	}
	return nil
}

// restartICE applies a client ICE restart: the last offer with the new
// credentials is set again, which makes pion restart its ICE agent with
// new local credentials, and the new answer's ICE lines go back.
func (ss *session) restartICE(ctx context.Context, frag Fragment) (string, string, error) {
	ss.mu.Lock()
	offer, err := replaceICECredentials(ss.offer, frag.Ufrag, frag.Pwd)
	ss.mu.Unlock()
	if err != nil {
		return "", "", err
	}
	if err := ss.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", "", fmt.Errorf("ice restart: %w", errors.Join(httpx.ErrBadRequest, err))
	}
	if err := ss.addCandidates(frag.Candidates); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrBadFragment, err)
	}
	answer, err := ss.negotiate(ctx)
	if err != nil {
		return "", "", err
	}
	etag := newETag()
	ss.mu.Lock()
	ss.offer, ss.ufrag, ss.etag = offer, frag.Ufrag, etag
	ss.mu.Unlock()
	ss.log.Info("ice restarted")
	return answerFragment(answer), etag, nil
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
	if ss.admitted != nil {
		ss.admitted()
	}
	close(ss.done)
}
