package wish

import (
	"net/http"

	"github.com/castnet/castnet/internal/httpx"
)

// Media types of the signaling.
const (
	// ContentTypeSDP is an offer's and an answer's (RFC 9725 §4.2).
	ContentTypeSDP = "application/sdp"
	// ContentTypeFragment is a PATCH body's and a restart answer's (RFC
	// 8840 §9, RFC 9725 §4.3).
	ContentTypeFragment = "application/trickle-ice-sdpfrag"
)

// Allow header values: an endpoint takes offers, a session resource takes
// trickle and restart PATCHes and its end (RFC 9725 §4.2, §4.3).
const (
	AllowEndpoint = "POST, OPTIONS"
	AllowSession  = "PATCH, DELETE, OPTIONS"
)

// ReadPatch reads a session's PATCH: its If-Match ("" when it sent none),
// and its body, which must be an sdpfrag (415 otherwise) of at most limit
// bytes (413). The caller authorizes the request and finds its session
// first, so a stranger's PATCH is refused before its body is read.
func ReadPatch(w http.ResponseWriter, r *http.Request, limit int64) (ifMatch string, f Fragment, err error) {
	if err := httpx.RequireContentType(r, ContentTypeFragment); err != nil {
		return "", Fragment{}, err
	}
	body, err := httpx.ReadBody(w, r, limit)
	if err != nil {
		return "", Fragment{}, err
	}
	if f, err = ParseFragment(body); err != nil {
		return "", Fragment{}, err
	}
	return r.Header.Get("If-Match"), f, nil
}

// WritePatch answers a PATCH Peer.Patch applied: 204 for trickled
// candidates (RFC 9725 §4.3.2), 200 with the new ICE session's ETag and
// sdpfrag for a restart (§4.3.3).
func WritePatch(w http.ResponseWriter, res PatchResult) {
	if !res.Restarted {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("ETag", res.ETag)
	w.Header().Set("Content-Type", ContentTypeFragment)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(res.Fragment))
}

// WriteCreated answers an offer with the session resource at location
// (RFC 9725 §4.2), its ICE session's ETag (§4.3.1), the PATCH it takes
// (Accept-Patch, RFC 5789 §3.1), one Link header per ICE server (§4.6)
// and the SDP answer.
func WriteCreated(w http.ResponseWriter, location, etag, answer string, links []string) {
	hd := w.Header()
	hd.Set("Location", location)
	hd.Set("ETag", etag)
	hd.Set("Accept-Patch", ContentTypeFragment)
	for _, l := range links {
		hd.Add("Link", l)
	}
	hd.Set("Content-Type", ContentTypeSDP)
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(answer))
}

// WriteOptions answers a non-preflight OPTIONS (preflights are answered by
// CORS) with what the resource accepts: offers at the endpoint, sdpfrag
// PATCHes at a session resource.
func WriteOptions(w http.ResponseWriter, endpoint bool) {
	if endpoint {
		w.Header().Set("Accept-Post", ContentTypeSDP)
		w.Header().Set("Allow", AllowEndpoint)
	} else {
		w.Header().Set("Accept-Patch", ContentTypeFragment)
		w.Header().Set("Allow", AllowSession)
	}
	w.WriteHeader(http.StatusNoContent)
}

// CORS lets publisher and viewer pages on other origins signal with h:
// a browser sends them only what the Fetch standard's CORS protocol
// allows. Such pages read the exposed headers: Location, ETag and
// Link of a POST, Accept-*, Allow and Access-Control-Allow-Methods of a
// plain OPTIONS (@eyevinn/whip-web-client trickles only if the last lists
// PATCH), Retry-After of a 503. @eyevinn/whip-web-client also sends its
// ETag back in an ETag request header on PATCH.
func CORS(h http.Handler) http.Handler {
	return httpx.CORS(httpx.CORSConfig{
		Methods: []string{"POST", "PATCH", "DELETE", "OPTIONS"},
		Headers: []string{"Authorization", "Content-Type", "If-Match", "ETag"},
		Expose: []string{"Location", "ETag", "Link", "Accept-Patch", "Accept-Post", "Allow",
			"Access-Control-Allow-Methods", "Retry-After"},
	}, h)
}
