package whep

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/names"
	"github.com/castnet/castnet/internal/relay"
	"github.com/castnet/castnet/internal/wish"
)

// maxOfferBytes bounds an SDP body; real offers are a few kilobytes.
const maxOfferBytes = 64 << 10

// Handler serves the WHEP endpoint at /whep/{stream} and session
// resources at /whep/{stream}/{session}, with CORS so players on other
// origins can play. Playback is open, like HLS: no token is asked.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(fn httpx.HandlerFunc) http.Handler { return httpx.Handle(s.log, fn) }
	mux.Handle("POST /whep/{stream}", h(s.handlePost))
	mux.Handle("OPTIONS /whep/{stream}", h(s.handleOptions))
	mux.Handle("GET /whep/{stream}", h(s.handleGet))
	mux.Handle("PATCH /whep/{stream}/{session}", h(s.handlePatch))
	mux.Handle("DELETE /whep/{stream}/{session}", h(s.handleDelete))
	mux.Handle("OPTIONS /whep/{stream}/{session}", h(s.handleOptions))
	return wish.CORS(mux)
}

// handlePost creates a viewer session from a recvonly offer: 201 with the
// answer, Location, ETag and ICE-server Link headers, as WHIP's.
func (s *Server) handlePost(w http.ResponseWriter, r *http.Request) error {
	stream := r.PathValue("stream")
	if !validStream(stream) {
		return ErrBadStreamName
	}
	if err := httpx.RequireContentType(r, "application/sdp"); err != nil {
		return err
	}
	offer, err := httpx.ReadBody(w, r, maxOfferBytes)
	if err != nil {
		return err
	}
	want, err := CheckOffer(offer)
	if err != nil {
		return err
	}
	if _, err := wish.OfferCreds(string(offer)); err != nil {
		return err
	}
	rendition := r.URL.Query().Get("rendition")
	if rendition != "" && !names.Rendition(rendition) {
		return ErrBadRendition
	}
	// The limits first: finding a rung's relay may start its feed (an
	// ffmpeg), which a refused viewer must not.
	ss := newSession(s, stream, r.RemoteAddr)
	if err := s.reserve(ss); err != nil {
		return err
	}
	if ss.relay, err = s.relay(stream, rendition); err != nil {
		ss.close(err)
		<-ss.done
		return err
	}
	answer, err := ss.start(r.Context(), string(offer), want)
	if err != nil {
		ss.close(err)
		<-ss.done
		return err
	}
	wish.WriteCreated(w, "/whep/"+url.PathEscape(stream)+"/"+ss.id, ss.peer.ETag(), answer, s.cfg.RTC.LinkHeaders())
	ss.log.Info("viewer offer answered", "remote", r.RemoteAddr, "video", want.Video, "audio", want.Audio)
	return nil
}

// relay finds what a viewer of stream's rendition subscribes to.
func (s *Server) relay(stream, rendition string) (*relay.Relay, error) {
	rel, live, err := s.cfg.Sources.Relay(stream, rendition)
	switch {
	case !live:
		return nil, httpx.WithRetryAfter(ErrNotLive, notLiveRetry)
	case err != nil:
		return nil, err
	}
	return rel, nil
}

func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) error {
	wish.WriteOptions(w, r.PathValue("session") == "")
	return nil
}

// handleGet: the endpoint only takes offers (405 with Allow).
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Allow", "POST, OPTIONS")
	return ErrNotPOST
}

// handlePatch takes trickled candidates or an ICE restart.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.lookup(r.PathValue("stream"), r.PathValue("session"))
	if err != nil {
		return err
	}
	ifMatch, frag, err := wish.ReadPatch(w, r, maxOfferBytes)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.GatherTimeout+5*time.Second)
	defer cancel()
	res, err := ss.peer.Patch(ctx, ifMatch, frag)
	if err != nil {
		return err
	}
	wish.WritePatch(w, res)
	return nil
}

// handleDelete ends a viewer's session.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.lookup(r.PathValue("stream"), r.PathValue("session"))
	if err != nil {
		return err
	}
	ss.log.Info("viewer ended the session")
	ss.close(nil)
	select {
	case <-ss.done:
	case <-time.After(5 * time.Second):
		ss.log.Warn("viewer session slow to close")
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
