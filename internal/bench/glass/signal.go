package glass

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/pion/webrtc/v4"
)

// maxAnswer bounds an SDP answer read from the node.
const maxAnswer = 64 << 10

// statusError is a WHIP or WHEP endpoint's refusal.
type statusError struct {
	Code int
	Body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

// gatheredOffer sets pc's offer and returns it with every candidate in
// it: castnet's endpoints gather all of theirs before answering, and on
// loopback ours are gathered at once, so neither side trickles.
func gatheredOffer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	return gathered(ctx, pc, offer)
}

// gatheredAnswer answers offer the same way.
func gatheredAnswer(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	return gathered(ctx, pc, answer)
}

func gathered(ctx context.Context, pc *webrtc.PeerConnection, d webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// postOffer sends an offer to a WHIP or WHEP endpoint (RFC 9725 §4.2,
// draft-ietf-wish-whep §4.2) and returns the answer and the session URL.
func postOffer(ctx context.Context, client *http.Client, endpoint, offer string) (answer, session string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", "", &statusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	loc, err := url.Parse(endpoint)
	if err == nil {
		loc, err = loc.Parse(resp.Header.Get("Location"))
	}
	if err != nil {
		return "", "", fmt.Errorf("session Location %q: %w", resp.Header.Get("Location"), err)
	}
	return string(b), loc.String(), nil
}

// remoteAnswer applies an answer to an offering pc.
func remoteAnswer(pc *webrtc.PeerConnection, sdp string) error {
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
}

// deleteSession ends a WHIP or WHEP session; a node already gone is not
// an error worth reporting at the end of a run.
func deleteSession(ctx context.Context, client *http.Client, session string) {
	if session == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, session, nil)
	if err != nil {
		return
	}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
}
