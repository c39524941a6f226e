package whip

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/wish"
)

// Handler serves the WHIP endpoint at /whip/{stream} and session resources
// at /whip/{stream}/{session}, with CORS so pages on other origins can
// publish.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(fn httpx.HandlerFunc) http.Handler { return httpx.Handle(s.log, fn) }
	mux.Handle("POST /whip/{stream}", h(s.handlePost))
	mux.Handle("OPTIONS /whip/{stream}", h(s.handleOptions))
	mux.Handle("GET /whip/{stream}", h(s.handleGet))
	mux.Handle("PATCH /whip/{stream}/{session}", h(s.handlePatch))
	mux.Handle("DELETE /whip/{stream}/{session}", h(s.handleDelete))
	mux.Handle("OPTIONS /whip/{stream}/{session}", h(s.handleOptions))
	return wish.CORS(mux)
}

// handlePost creates a session from an SDP offer (RFC 9725 §4.2). The
// admission commits only once the stream name is reserved for the new
// session, so a POST refused on the way changes nothing.
func (s *Server) handlePost(w http.ResponseWriter, r *http.Request) error {
	stream, commit, owner, err := s.admit(r)
	if err != nil {
		return err
	}
	offer, err := httpx.ReadBody(w, r, maxOfferBytes)
	if err != nil {
		return err
	}
	info, err := CheckOffer(offer)
	if err != nil {
		return err
	}
	ss := newSession(s, stream, r.RemoteAddr, info)
	if why := s.cfg.RTC.Unreachable(r.RemoteAddr, offer); why != "" {
		ss.log.Warn("publisher may not connect: "+why, "remote", r.RemoteAddr)
	}
	ss.auth, ss.owner = r.Header.Get("Authorization"), owner
	if err := s.reserve(ss); err != nil {
		return err
	}
	if ss.payer, err = commit(r.Context(), ss.id); err != nil {
		ss.log.Info("publisher refused", "remote", r.RemoteAddr, "reason", err)
		ss.abandon(err)
		return err
	}
	answer, err := ss.start(r.Context(), string(offer))
	if err != nil {
		ss.abandon(err)
		return err
	}
	s.writeAnswer(w, ss, answer)
	// Connected is logged when ICE and DTLS are (onConnectionState).
	ss.log.Info("publisher offer answered", "remote", r.RemoteAddr, "video", info.Video, "audio", info.Audio)
	return nil
}

// admit checks a POST's token, stream name and content type, and asks the
// Admitter (when there is one) for its decision, not yet committed, and
// who the publisher is.
func (s *Server) admit(r *http.Request) (stream string, commit Commit, owner string, err error) {
	if stream, err = s.check(r); err != nil {
		return "", nil, "", err
	}
	if s.cfg.Admitter == nil {
		return stream, func(context.Context, string) (fmt.Stringer, error) { return nil, nil }, s.tokenOwner(), nil
	}
	if commit, err = s.cfg.Admitter.Admit(r, stream); err != nil {
		s.log.Info("publisher refused", "stream", stream, "remote", r.RemoteAddr, "reason", err)
		return "", nil, "", err
	}
	owner = s.cfg.Admitter.Owner(r, stream)
	if owner == "" {
		owner = s.tokenOwner()
	}
	return stream, commit, owner, nil
}

// check is what every POST must pass before any admission: the node's
// token, the stream name, the content type, and a node that takes streams.
func (s *Server) check(r *http.Request) (string, error) {
	if err := s.authorize(r); err != nil {
		return "", err
	}
	stream := r.PathValue("stream")
	if !ValidStreamName(stream) {
		return "", ErrBadStreamName
	}
	if err := httpx.RequireContentType(r, wish.ContentTypeSDP); err != nil {
		return "", err
	}
	if s.cfg.Accepting != nil {
		if err := s.cfg.Accepting(); err != nil {
			s.log.Warn("publisher refused: the node takes no new stream", "stream", stream, "reason", err)
			return "", err
		}
	}
	return stream, nil
}

// tokenOwner is the owner of a POST that passed the node's token: the
// token's holders, who may take over each other's dead sessions; nobody
// in particular on a node without one.
func (s *Server) tokenOwner() string {
	if s.cfg.Token == "" {
		return ""
	}
	return "publish token"
}

// writeAnswer answers a POST with the session's resource, the ETag of its
// ICE session, the node's ICE servers and the SDP answer.
func (s *Server) writeAnswer(w http.ResponseWriter, ss *session, answer string) {
	wish.WriteCreated(w, "/whip/"+url.PathEscape(ss.stream)+"/"+ss.id, ss.peer.Load().ETag(), answer, s.cfg.RTC.LinkHeaders())
}

// handleOptions answers a non-preflight OPTIONS (preflights are answered by
// the CORS layer) with what the resource accepts.
func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) error {
	wish.WriteOptions(w, r.PathValue("session") == "")
	return nil
}

// handleGet: the endpoint only publishes (RFC 9725 §4.2 lets a server 405).
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", wish.AllowEndpoint)
	return ErrNotPOST
}

// handlePatch takes trickled candidates or an ICE restart (RFC 9725 §4.3;
// wish.PatchIntent says which).
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.sessionOf(r)
	if err != nil {
		return err
	}
	peer := ss.peer.Load()
	if peer == nil { // its POST is not answered yet, so nobody knows its URL
		return ErrNoSession
	}
	ifMatch, frag, err := wish.ReadPatch(w, r, maxOfferBytes)
	if err != nil {
		return err
	}
	res, err := peer.Patch(r.Context(), ifMatch, frag)
	if err != nil {
		return err
	}
	wish.WritePatch(w, res)
	return nil
}

// sessionOf finds the session a PATCH or DELETE is for, once the request
// has shown the node's token and the session's own credentials.
func (s *Server) sessionOf(r *http.Request) (*session, error) {
	if err := s.authorize(r); err != nil {
		return nil, err
	}
	ss, err := s.lookup(r.PathValue("stream"), r.PathValue("session"))
	if err != nil {
		return nil, err
	}
	if err := s.authorizeSession(r, ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// handleDelete ends a session (RFC 9725 §4.2): the stream is finished and its
// playlists closed.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.sessionOf(r)
	if err != nil {
		return err
	}
	s.log.Info("publisher ended the session", "stream", ss.stream, "session", ss.id)
	ss.close(nil)
	select {
	case <-ss.done:
	case <-time.After(10 * time.Second):
		s.log.Warn("session slow to close", "stream", ss.stream, "session", ss.id)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
