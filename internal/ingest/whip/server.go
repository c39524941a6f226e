// Package whip is castnet's WebRTC-HTTP Ingestion Protocol endpoint (RFC
// 9725): it negotiates a PeerConnection with each publisher and turns the
// received RTP into access units for a Sink. It knows nothing of segments,
// transcoding or playback.
package whip

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/names"
	"github.com/castnet/castnet/internal/rtc"
	"github.com/castnet/castnet/internal/wish"
)

// Request errors.
var (
	ErrUnauthorized  = wish.ErrUnauthorized
	ErrBadStreamName = fmt.Errorf("stream names are 1-64 letters, digits, '-' or '_': %w", httpx.ErrBadRequest)
	ErrStreamLive    = fmt.Errorf("stream is already live: %w", httpx.ErrConflict)
	// ErrTakenOver ends a session whose owner published the name again
	// while its transport was dead.
	ErrTakenOver    = errors.New("taken over by a new session of the same publisher")
	ErrFull         = fmt.Errorf("node is at its stream limit: %w", httpx.ErrUnavailable)
	ErrNoSession    = fmt.Errorf("no such session: %w", httpx.ErrNotFound)
	ErrNoIfMatch    = wish.ErrNoIfMatch
	ErrETagMismatch = wish.ErrETagMismatch
	// ErrNotThisICESession refuses a PATCH whose ICE credentials are
	// neither the session's nor a valid new pair for a restart (see
	// wish.PatchIntent).
	ErrNotThisICESession = wish.ErrNotThisICESession
	ErrNotPOST           = fmt.Errorf("publish with POST: %w", httpx.ErrMethodNotAllowed)
)

// ValidStreamName reports whether name may be used as a stream name
// (names.Stream, the one definition).
func ValidStreamName(name string) bool { return names.Stream(name) }

// Publish describes a new publishing session to the Sink's owner.
type Publish struct {
	Stream     string
	Session    string
	RemoteAddr string
	Video      media.Codec // "" when the publisher sends no video
	Audio      media.Codec
	// RequestKeyframe asks the publisher for an IDR (RTCP PLI). Safe to call
	// from any goroutine, cheap, and a no-op once the session is over.
	RequestKeyframe func()
	// Stats reports the session's transport counters.
	Stats func() SessionStats
	// Payer is who the session's segments are billed to, as its admission
	// committed it (nil: nobody). It travels with each segment instead of
	// being looked up by stream name, so a later session of the name never
	// changes who pays for this one's.
	Payer fmt.Stringer
	// Owner names who publishes (Admitter.Owner: a permit's signer, the
	// publish token's holders), "" for nobody in particular.
	Owner string
}

// Interrupted says whether a session ended because its transport was
// lost (ICE failed, no media, taken over by its own publisher's new
// session) rather than because it was meant to end (DELETE, the node's
// shutdown, a node's decision such as a spent balance): a publisher may
// come back, and playback may wait for it.
func Interrupted(reason error) bool {
	return errors.Is(reason, ErrConnectionFailed) || errors.Is(reason, ErrMediaTimeout) || errors.Is(reason, ErrTakenOver)
}

// SessionStats are a session's transport counters.
type SessionStats struct {
	State         string `json:"state"` // the PeerConnection's: new, connecting, connected, ...
	PacketsVideo  uint64 `json:"packets_video"`
	PacketsAudio  uint64 `json:"packets_audio"`
	BytesReceived uint64 `json:"bytes_received"`
	PacketsLost   uint64 `json:"packets_lost"`
	BrokenFrames  uint64 `json:"broken_frames"`
	KeyframeAsks  uint64 `json:"keyframe_requests"`
	// CandidatesTrickled counts the remote candidates PATCH requests handed
	// to ICE, CandidatesDiscarded those it could not take (RFC 9725 §4.3.2).
	CandidatesTrickled  uint64 `json:"candidates_trickled"`
	CandidatesDiscarded uint64 `json:"candidates_discarded"`
	RemoteCandAddr      string `json:"remote_address,omitempty"`
	// Connected is when ICE and DTLS first completed; zero until then.
	Connected time.Time `json:"connected_at,omitzero"`
	// FirstMedia is when the first RTP packet (audio or video) arrived:
	// zero means no media has come yet, whatever State says.
	FirstMedia time.Time `json:"first_media_at,omitzero"`
	// LastPacket is when the latest RTP packet arrived; a session whose
	// LastPacket falls MediaTimeout behind is ended with ErrMediaTimeout.
	LastPacket time.Time `json:"last_packet_at,omitzero"`
}

// Sink consumes one session's access units.
type Sink interface {
	// WriteAccessUnit takes one unit. Calls are serialized per session and
	// must not block for long: they run on the RTP read path.
	WriteAccessUnit(au media.AccessUnit)
	// Close ends the stream; err says why when it did not end cleanly.
	Close(err error)
}

// Starter opens a Sink for a new publishing session. An error refuses the
// publisher with the error's status.
type Starter interface {
	StartStream(ctx context.Context, p Publish) (Sink, error)
}

// Admitter decides who may publish (internal/trust checks wallet-signed
// permits). Admit sees a new session's POST before its offer is read and
// only decides: an error refuses the POST with its status (401 or 403 with
// a reason), and nothing else changes until whip calls the returned
// Commit. The session's later PATCH and DELETE must carry the same
// Authorization header.
type Admitter interface {
	Admit(r *http.Request, stream string) (Commit, error)
	// Owner names who publishes with an admitted request's credentials
	// (a permit's signer), "" for nobody in particular: a new POST of the
	// same owner may take over its own session whose transport is dead
	// (see TakeoverIdle).
	Owner(r *http.Request, stream string) string
}

// Commit makes an admission take effect for session, which holds the
// stream name from then on (a permit's nonce is spent here). whip calls it
// once the name is reserved, so a POST refused before that (409 because
// the stream is live, a bad offer, a full node) changes nothing, and an
// error refuses the session. It returns who the session's segments are
// billed to (nil: nobody), carried in Publish.Payer.
//
// It is a function type (an alias), so an Admitter's method can return
// one without importing this package.
type Commit = func(ctx context.Context, session string) (payer fmt.Stringer, err error)

// Config configures a WHIP server.
type Config struct {
	RTC     *rtc.RTC
	Starter Starter
	Token   string // when set, every request must carry "Authorization: Bearer <Token>"
	// Admitter, when set, admits each new session (after Token).
	Admitter Admitter
	// Accepting, when set, says why the node takes no new stream now (nil:
	// it does), before any admission: a store that cannot write answers
	// 507, so a publisher is told at once instead of streaming into
	// nothing.
	Accepting  func() error
	MaxStreams int // 0 means no limit
	// GatherTimeout caps how long POST waits for ICE gathering (default
	// DefaultGatherTimeout).
	GatherTimeout time.Duration
	// ConnectTimeout ends a session whose publisher has not completed ICE
	// and DTLS this long after its offer (default DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// MediaTimeout ends a connected session that receives no RTP packet for
	// this long, with ErrMediaTimeout (0 or less: DefaultMediaTimeout).
	MediaTimeout time.Duration
	Logger       *slog.Logger
}

// Timeout defaults.
const (
	DefaultGatherTimeout = wish.DefaultGatherTimeout
	// DefaultConnectTimeout matches pion's ICE agent, which fails a check
	// list that found no pair after its disconnected plus failed timeouts
	// (5 s + 10 s in internal/rtc): a longer ConnectTimeout would never be
	// the one to fire, and docs/protocol.md states one figure.
	DefaultConnectTimeout = 15 * time.Second
	// DefaultMediaTimeout: browsers send video at 15 fps or more and Opus
	// with DTX at least every 400 ms, so 10 s without a packet is a
	// publisher that has stopped sending (a track removed or a muted
	// sender), not a slow one; it is also well past an ICE restart's gap.
	DefaultMediaTimeout = 10 * time.Second
	// TakeoverIdle is how long a session must have received nothing (no
	// RTP since its offer) before a new POST of the same owner may take
	// over its name at once, instead of waiting out ICE consent (5 s +
	// 10 s) or MediaTimeout. Browsers send a packet every 70 ms or less
	// while they publish, so a publisher silent this long has gone: it
	// crashed, or its network changed and it reconnected.
	TakeoverIdle = 2 * time.Second
)

// maxOfferBytes bounds an SDP body; real offers are a few kilobytes.
const maxOfferBytes = 64 << 10

// Server is the WHIP endpoint and the registry of its sessions.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	sessions wish.Table[*session]
	// byStream is the session holding each stream name, kept under the
	// table's lock (Reserve's and Release's callbacks).
	byStream map[string]*session
}

// New builds a WHIP server.
func New(cfg Config) (*Server, error) {
	if cfg.RTC == nil || cfg.Starter == nil {
		return nil, fmt.Errorf("whip: RTC and Starter are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GatherTimeout == 0 {
		cfg.GatherTimeout = DefaultGatherTimeout
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.MediaTimeout <= 0 {
		cfg.MediaTimeout = DefaultMediaTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel,
		byStream: map[string]*session{}}, nil
}

// Close ends every session and waits for them; idempotent.
func (s *Server) Close() error {
	s.cancel()
	s.sessions.Shut(func(ss *session) { ss.close(nil) })
	return nil
}

// Live reports the number of sessions.
func (s *Server) Live() int { return s.sessions.Len() }

// authorize checks the node's bearer token (RFC 9725 §4.5).
func (s *Server) authorize(r *http.Request) error { return wish.CheckBearer(r, s.cfg.Token) }

// authorizeSession checks a PATCH or DELETE: with an Admitter, the
// request must carry the Authorization header that created the session
// (a permit's nonce is spent once, so it cannot be admitted again).
func (s *Server) authorizeSession(r *http.Request, ss *session) error {
	if s.cfg.Admitter == nil {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(ss.auth)) != 1 {
		return fmt.Errorf("send the Authorization header the session was created with: %w", httpx.ErrUnauthorized)
	}
	return nil
}

// End closes the session of stream with that id, if it is still open,
// with reason (its publisher's balance ran out, say). It reports whether
// it was. Sessions are named by id so that a reason about an ended one
// never ends a later session of the same name.
func (s *Server) End(stream, session string, reason error) bool {
	ss, ok := s.sessions.Get(session)
	if !ok || ss.stream != stream {
		return false
	}
	ss.log.Warn("ending the session", "reason", reason)
	ss.close(reason)
	return true
}

// reserve claims a stream name for a new session, enforcing one session per
// stream and the stream limit.
func (s *Server) reserve(ss *session) error {
	return s.sessions.Reserve(ss.id, ss, func(n int) error {
		old := s.byStream[ss.stream]
		switch {
		case old != nil && !ss.mayTakeOver(old):
			return ErrStreamLive
		case s.cfg.MaxStreams > 0 && n >= s.cfg.MaxStreams:
			return httpx.WithRetryAfter(fmt.Errorf("%w: %d of %d", ErrFull, n, s.cfg.MaxStreams), 30*time.Second)
		}
		if old != nil {
			ss.log.Info("taking over the name from a dead session of the same publisher", "old_session", old.id)
			go old.close(ErrTakenOver) // it releases only its own table entry now
		}
		s.byStream[ss.stream] = ss
		return nil
	})
}

// release forgets a session once it has fully closed.
func (s *Server) release(ss *session) {
	s.sessions.Release(ss.id, func() {
		if s.byStream[ss.stream] == ss {
			delete(s.byStream, ss.stream)
		}
	})
}

func (s *Server) lookup(stream, id string) (*session, error) {
	ss, ok := s.sessions.Get(id)
	if !ok || ss.stream != stream {
		return nil, ErrNoSession
	}
	return ss, nil
}
