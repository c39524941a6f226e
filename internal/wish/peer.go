package wish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/httpx"
)

// DefaultGatherTimeout is how long a Peer waits for ICE gathering when its
// PeerConfig names no GatherTimeout.
const DefaultGatherTimeout = 5 * time.Second

// restartSlack is how much longer than GatherTimeout a whole ICE restart
// may take: setting the offer again and adding its candidates come first.
const restartSlack = 5 * time.Second

// PeerConfig configures a Peer.
type PeerConfig struct {
	// GatherTimeout caps how long Answer and an ICE restart wait for ICE
	// gathering (0 or less: DefaultGatherTimeout).
	GatherTimeout time.Duration
	// Rewrite is applied to the local answer before it is sent (whip adds
	// the rate hints of rtc.RTC.Answer); nil sends it as pion wrote it.
	Rewrite func(sdp string) string
	Logger  *slog.Logger
}

// Peer is the signaling side of one session's PeerConnection: it holds the
// last offer, the remote ICE credentials, the ETag, and the trickle
// counters, under its own mutex. What flows over the PeerConnection, its
// tracks and its state callbacks, is the owner's; so is closing it.
type Peer struct {
	pc  *webrtc.PeerConnection
	cfg PeerConfig
	log *slog.Logger

	mu    sync.Mutex // guards the fields below
	offer string     // the client's last offer, which a restart sets again with new credentials
	ice   ICECreds   // the client's, of the current ICE session
	etag  string

	applied, discarded atomic.Uint64
}

// NewPeer wraps pc, which must be new: Answer sets its descriptions.
func NewPeer(pc *webrtc.PeerConnection, cfg PeerConfig) *Peer {
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = DefaultGatherTimeout
	}
	if cfg.Rewrite == nil {
		cfg.Rewrite = func(sdp string) string { return sdp }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Peer{pc: pc, cfg: cfg, log: cfg.Logger, etag: NewETag()}
}

// PC returns the PeerConnection the Peer signals for.
func (p *Peer) PC() *webrtc.PeerConnection { return p.pc }

// ETag returns the current ICE session's entity tag (RFC 9725 §4.3.1).
func (p *Peer) ETag() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.etag
}

// ICE returns the client's credentials of the current ICE session, zero
// before Answer.
func (p *Peer) ICE() ICECreds {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ice
}

// Trickled counts the remote candidates PATCH requests handed to ICE and
// those it could not take (RFC 9725 §4.3.2).
func (p *Peer) Trickled() (applied, discarded uint64) {
	return p.applied.Load(), p.discarded.Load()
}

// Answer sets the client's offer, creates and applies the answer, and
// returns it once every local candidate is gathered, rewritten and without
// RTCP candidates: WHIP and WHEP servers do not trickle (RFC 9725 §4.3),
// so the answer carries them all. ctx and GatherTimeout bound the wait.
// An offer pion cannot answer fails with ErrNoCodec.
func (p *Peer) Answer(ctx context.Context, offer string) (string, error) {
	creds, err := OfferCreds(offer)
	if err != nil {
		return "", err
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCodec, err)
	}
	answer, err := p.negotiate(ctx)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.offer, p.ice = offer, creds
	p.mu.Unlock()
	return dropRTCPCandidates(answer), nil
}

// negotiate creates and applies an answer to the remote offer just set and
// waits for gathering to complete.
func (p *Peer) negotiate(ctx context.Context) (string, error) {
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCodec, err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	t := time.NewTimer(p.cfg.GatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
		return "", ErrGatherTimeout
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return p.cfg.Rewrite(p.pc.LocalDescription().SDP), nil
}

// PatchResult is what a PATCH did. Fragment and ETag are set when it
// restarted ICE: the new ICE session's sdpfrag and entity tag, which the
// 200 answer carries (RFC 9725 §4.3.3).
type PatchResult struct {
	Restarted      bool
	Fragment, ETag string
}

// Patch applies a PATCH with ifMatch (its If-Match header, "" when it sent
// none) and its fragment: PatchIntent decides, then the candidates are
// trickled into the current ICE session or ICE restarts with the
// fragment's credentials. A refusal changes nothing.
func (p *Peer) Patch(ctx context.Context, ifMatch string, frag Fragment) (PatchResult, error) {
	cur, etag := p.current()
	restart, err := PatchIntent(ifMatch, frag, cur, etag)
	if err != nil {
		return PatchResult{}, err
	}
	if !restart {
		p.addCandidates(frag.Candidates)
		return PatchResult{}, nil
	}
	return p.restart(ctx, frag)
}

// current is the ICE session a PATCH is judged against, read at once.
func (p *Peer) current() (ICECreds, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ice, p.etag
}

// addCandidates applies trickled remote candidates. One that ICE cannot
// take (an address that does not parse, a line cut short) is discarded and
// counted while the rest still apply, as RFC 9725 §4.3.2 asks; a client
// that gets an error for one odd candidate may stop trickling altogether
// (@eyevinn/whip-web-client does). The bracketed IPv6 address that client
// writes is unbracketed first.
func (p *Peer) addCandidates(cands []string) {
	for _, c := range cands {
		err := p.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: "candidate:" + unbracketAddress(c)})
		if err != nil {
			p.discarded.Add(1)
			p.log.Debug("trickled candidate discarded", "candidate", truncate(c, 120), "err", err)
			continue
		}
		p.applied.Add(1)
	}
}

// restart applies a client ICE restart (RFC 9725 §4.3.3): the last offer
// with the new credentials is set again, which makes pion restart its ICE
// agent with new local credentials, and the new answer's ICE lines go
// back with a new ETag.
func (p *Peer) restart(ctx context.Context, frag Fragment) (PatchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.GatherTimeout+restartSlack)
	defer cancel()
	p.mu.Lock()
	offer, err := replaceICECredentials(p.offer, frag.Ufrag, frag.Pwd)
	p.mu.Unlock()
	if err != nil {
		return PatchResult{}, err
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return PatchResult{}, fmt.Errorf("ice restart: %w", errors.Join(httpx.ErrBadRequest, err))
	}
	p.addCandidates(frag.Candidates)
	answer, err := p.negotiate(ctx)
	if err != nil {
		return PatchResult{}, err
	}
	etag := NewETag()
	p.mu.Lock()
	p.offer, p.ice, p.etag = offer, ICECreds{frag.Ufrag, frag.Pwd}, etag
	p.mu.Unlock()
	p.log.Info("ice restarted")
	return PatchResult{Restarted: true, Fragment: answerFragment(answer), ETag: etag}, nil
}
