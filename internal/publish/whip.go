package publish

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"
)

// maxAnswerBytes bounds the SDP answer read from the server; real answers
// are a few kilobytes.
const maxAnswerBytes = 1 << 20

// maxErrorBody bounds how much of an error response ends up in an error.
const maxErrorBody = 512

// StatusError is the WHIP server's refusal of an offer: any status but 201
// (RFC 9725 section 4.2). It matches ErrUnexpectedStatus with errors.Is.
type StatusError struct {
	Code int    // HTTP status code, e.g. 401 or 409
	Body string // the start of the server's response body, trimmed
}

// Error names the status and quotes the server's explanation.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("publish: the WHIP server refused the offer: %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrUnexpectedStatus) hold.
func (e *StatusError) Unwrap() error { return ErrUnexpectedStatus }

// whipSession is what the server's 201 tells the client.
type whipSession struct {
	location   *url.URL // the session resource: DELETE ends the publish
	answer     string
	iceServers []webrtc.ICEServer
}

// postOffer sends the SDP offer to the WHIP endpoint (RFC 9725 section
// 4.2) and returns the session the server created.
func postOffer(ctx context.Context, client *http.Client, endpoint, token, offer string) (whipSession, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return whipSession{}, fmt.Errorf("%w: WHIP URL: %w", ErrConfig, err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	setBearer(req, token)
	resp, err := client.Do(req)
	if err != nil {
		return whipSession{}, fmt.Errorf("publish: WHIP offer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if resp.StatusCode != http.StatusCreated {
		return whipSession{}, &StatusError{Code: resp.StatusCode, Body: bodySnippet(body)}
	}
	if err != nil {
		return whipSession{}, fmt.Errorf("publish: WHIP answer: %w", err)
	}
	// A 307 may have moved the request (RFC 9725 section 4.5): Location is
	// relative to where the 201 came from (RFC 9110 section 10.2.2).
	loc, err := resolveLocation(resp.Request.URL, resp.Header.Get("Location"))
	if err != nil {
		return whipSession{}, err
	}
	return whipSession{location: loc, answer: string(body), iceServers: parseICEServers(resp.Header.Values("Link"))}, nil
}

// deleteSession ends the session (RFC 9725 section 4.2). It returns the
// status code so the caller can tell an ended session (404) from a live one.
func deleteSession(ctx context.Context, client *http.Client, loc *url.URL, token string) (int, error) {
	return sessionRequest(ctx, client, http.MethodDelete, loc, token, "")
}

// patchSession sends a trickle fragment to the session (RFC 9725 section
// 4.3.2) and returns the status code.
func patchSession(ctx context.Context, client *http.Client, loc *url.URL, token, frag string) (int, error) {
	return sessionRequest(ctx, client, http.MethodPatch, loc, token, frag)
}

// sessionRequest sends one request to the session resource, with body as
// a trickle fragment when there is one, and returns the status code.
func sessionRequest(ctx context.Context, client *http.Client, method string, loc *url.URL, token, body string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, loc.String(), strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	}
	setBearer(req, token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// endOfCandidates is the trickle fragment (RFC 8840 section 9) that says
// of the offer's ICE session what was true from the start: there are no
// candidates to come, since the offer carried them all. A server acts on
// it by doing nothing, which makes it a fair question whether the session
// still exists. The fragment names the first media section, which the
// others are bundled with.
func endOfCandidates(offer string) string {
	var ufrag, pwd, mline, mid string
	for line := range strings.Lines(offer) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case ufrag == "" && strings.HasPrefix(line, "a=ice-ufrag:"):
			ufrag = line
		case pwd == "" && strings.HasPrefix(line, "a=ice-pwd:"):
			pwd = line
		case mline == "" && strings.HasPrefix(line, "m="):
			mline = line
		case mid == "" && strings.HasPrefix(line, "a=mid:"):
			mid = line
		}
	}
	return strings.Join([]string{ufrag, pwd, mline, mid, "a=end-of-candidates", ""}, "\r\n")
}

// setBearer adds the token the way RFC 9725 section 4.7 asks: a bearer
// token on every request.
func setBearer(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

// bodySnippet makes an error body fit in one error line.
func bodySnippet(body []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " ")
	if len(s) <= maxErrorBody {
		return s
	}
	cut := maxErrorBody
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// resolveLocation turns the Location header into the session URL,
// resolving a relative reference against the URL that answered.
func resolveLocation(base *url.URL, loc string) (*url.URL, error) {
	loc = strings.TrimSpace(loc)
	if loc == "" {
		return nil, ErrNoLocation
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNoLocation, loc, err)
	}
	u := base.ResolveReference(ref)
	// The token goes wherever Location points: only to HTTP(S).
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: %q is not an HTTP URL", ErrNoLocation, loc)
	}
	return u, nil
}
