package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAPIHandsOutNothingThatEndsASession (issue 11, attack 2): anyone, and
// any web page (the API answers every origin), reads /api/streams. Nothing
// it lists may end or restart a live session when used as the session id
// of DELETE or PATCH /whip/{stream}/{session}, and it names no publisher
// address. The session's own id, which only the publisher holds (from the
// POST's Location), still ends it.
func TestAPIHandsOutNothingThatEndsASession(t *testing.T) {
	needTools(t, "ffmpeg")
	n := startNode(t, "-source-only")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	published := make(chan string, 1)
	go func() {
		out, _ := publish(ctx, "-test-pattern", "-width", "320", "-height", "180", "-duration", "60s", n.URL+"/whip/victim")
		published <- out
	}()
	n.waitState("victim", "live", 30*time.Second)
	id, remote := offerFromLog(t, n, "victim")
	exposed := map[string]bool{}
	for _, path := range []string{"/api/streams", "/api/streams/victim", "/api/streams/victim?turnarounds=1"} {
		body := get(t, n.URL+path)
		for _, secret := range []string{id, remote} {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows %q:\n%s", path, secret, body)
			}
		}
		collectStrings(t, body, exposed)
	}
	before := packets(t, n, "victim")
	for v := range exposed {
		for _, req := range sessionAttacks(n.URL + "/whip/victim/" + url.PathEscape(v)) {
			if code := do(t, req); code < 300 {
				t.Errorf("%s %s with %q from the API: %d, the session was ended or restarted", req.Method, req.URL.Path, v, code)
			}
		}
	}
	time.Sleep(2 * time.Second)
	select {
	case out := <-published:
		t.Fatalf("the publisher stopped after the attempts:\n%s", out)
	default:
	}
	if st, _ := n.stream("victim"); st.State != "live" || packets(t, n, "victim") <= before {
		t.Errorf("after the attempts the stream is %q with packets %d→%d, want it live and still receiving",
			st.State, before, packets(t, n, "victim"))
	}
	if offers := len(offerLine.FindAllString(n.logs.String(), -1)); offers != 1 {
		t.Errorf("%d offers answered for victim, want 1 (no restart)", offers)
	}
	// Control: the capability itself, which the publisher alone knows, works.
	if code := do(t, mustRequest(t, http.MethodDelete, n.URL+"/whip/victim/"+id, "")); code != http.StatusOK {
		t.Errorf("DELETE with the session's own id: %d, want 200", code)
	}
	n.waitState("victim", "ended", time.Minute)
	cancel()
	<-published
}

var offerLine = regexp.MustCompile(`msg="publisher offer answered".* stream=(\S+) session=(\S+) remote=(\S+)`)

// offerFromLog returns the session id and publisher address the node
// logged when it answered stream's offer: what an operator reads in logs.
func offerFromLog(t *testing.T, n *node, stream string) (id, remote string) {
	t.Helper()
	for _, m := range offerLine.FindAllStringSubmatch(n.logs.String(), -1) {
		if m[1] == stream {
			return m[2], m[3]
		}
	}
	t.Fatalf("no offer answered for %s in the log:\n%s", stream, n.logs.String())
	return "", ""
}

// collectStrings adds every string, and every key, in the JSON body to set.
func collectStrings(t *testing.T, body string, set map[string]bool) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			set[v] = v != ""
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				set[k] = true
				walk(e)
			}
		}
	}
	walk(v)
	delete(set, "")
}

// sessionAttacks are what an attacker does with a session URL: end it,
// and restart its ICE with credentials of their own (RFC 9725 §4.3.2).
func sessionAttacks(u string) []*http.Request {
	restart := "a=ice-ufrag:evil\r\na=ice-pwd:evilevilevilevilevilevil\r\n"
	del, _ := http.NewRequest(http.MethodDelete, u, nil)
	patch, _ := http.NewRequest(http.MethodPatch, u, strings.NewReader(restart))
	patch.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	patch.Header.Set("If-Match", "*")
	return []*http.Request{del, patch}
}

func mustRequest(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// packets is the video and audio packets the node received for stream.
func packets(t *testing.T, n *node, stream string) uint64 {
	t.Helper()
	var st struct {
		Transport struct {
			Video uint64 `json:"packets_video"`
			Audio uint64 `json:"packets_audio"`
		} `json:"transport"`
	}
	if err := json.Unmarshal([]byte(get(t, n.URL+"/api/streams/"+stream)), &st); err != nil {
		t.Fatal(err)
	}
	return st.Transport.Video + st.Transport.Audio
}
