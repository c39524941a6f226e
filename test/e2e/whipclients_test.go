package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// whipClientsDir holds the npm WHIP clients (package.json, the lock that
// scripts/deps.sh test installs from), the bundle's entry and the page.
const whipClientsDir = "whipclients"

// TestForeignWHIPClientsTrickle: a page on another origin publishes to a
// `castnet dev` with its defaults using each npm WHIP client, as its README
// shows. Each client must trickle its candidates (PATCHes the node takes
// with 204, through CORS), connect and deliver media, and end with DELETE.
func TestForeignWHIPClientsTrickle(t *testing.T) {
	bundle := bundleWHIPClients(t)
	n := startNode(t)
	page := httptest.NewServer(whipClientsPage(bundle))
	t.Cleanup(page.Close)
	if page.URL == n.URL {
		t.Fatal("the page must come from another origin than the node")
	}
	ctx := browser(t)
	for _, client := range []string{"eyevinn", "whip-whep"} {
		t.Run(client, func(t *testing.T) {
			stream := "foreign-" + client
			u := page.URL + "/?client=" + client + "&whip=" + url.QueryEscape(n.URL+"/whip/"+stream)
			run(t, ctx, 30*time.Second, "publish with "+client,
				chromedp.Navigate(u),
				poll(`document.querySelector('#state').dataset.state === 'publishing'`, 20*time.Second),
			)
			st := waitForeignMedia(t, n, stream)
			checkTrickled(t, eval[[]clientRequest](t, ctx, `requests`))
			if failures := eval[[]string](t, ctx, `failures`); len(failures) > 0 {
				t.Errorf("the page saw errors: %q", failures)
			}
			if !strings.Contains(lineOf(n.logs.String(), "publisher connected", "stream="+stream), "remote=") {
				t.Errorf("no \"publisher connected\" log line with the remote address for %s", stream)
			}
			stopClient(t, ctx)
			n.waitState(stream, "ended", 20*time.Second)
			t.Logf("%s: %d video and %d audio packets, %d candidates trickled", client,
				st.Transport.PacketsVideo, st.Transport.PacketsAudio, st.Transport.Trickled)
		})
	}
}

// clientRequest is one fetch the page's WHIP client made.
type clientRequest struct {
	Method, URL, Body, Error string
	Status                   int
}

// checkTrickled: the client sent candidates in PATCHes and the node took
// each with 204; no request of the client failed.
func checkTrickled(t *testing.T, reqs []clientRequest) {
	t.Helper()
	trickled := 0
	for _, r := range reqs {
		if r.Error != "" || r.Status >= 400 || r.Status == 0 {
			t.Errorf("%s %s: status %d %s", r.Method, r.URL, r.Status, r.Error)
		}
		if r.Method == http.MethodPatch && strings.Contains(r.Body, "a=candidate:") {
			trickled++
			if r.Status != http.StatusNoContent {
				t.Errorf("trickle PATCH answered %d, want 204:\n%s", r.Status, r.Body)
			}
		}
	}
	if trickled == 0 {
		t.Errorf("the client trickled no candidates; its requests: %+v", reqs)
	}
}

// foreignStream is what these tests read of /api/streams/{stream}.
type foreignStream struct {
	State     string `json:"state"`
	LastError string `json:"last_error"`
	Transport struct {
		State        string    `json:"state"`
		PacketsVideo uint64    `json:"packets_video"`
		PacketsAudio uint64    `json:"packets_audio"`
		Trickled     uint64    `json:"candidates_trickled"`
		FirstMedia   time.Time `json:"first_media_at"`
	} `json:"transport"`
}

// waitForeignMedia waits until the node reports the session connected,
// with trickled candidates and a second's worth of audio and video.
func waitForeignMedia(t *testing.T, n *node, stream string) foreignStream {
	t.Helper()
	var st foreignStream
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		resp, err := http.Get(n.URL + "/api/streams/" + stream)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			continue // a client that does not trickle POSTs once it has gathered
		}
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("stream status: %d %v", resp.StatusCode, err)
		}
		tr := st.Transport
		if tr.State == "connected" && tr.PacketsVideo > 30 && tr.PacketsAudio > 50 && tr.Trickled > 0 && !tr.FirstMedia.IsZero() {
			return st
		}
	}
	t.Fatalf("stream %s after 30 s: %+v", stream, st)
	return st
}

// lineOf returns the first log line containing every one of parts.
func lineOf(logs string, parts ...string) string {
	for _, l := range strings.Split(logs, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return l
		}
	}
	return ""
}

// stopClient ends the publication as the client does (DELETE).
func stopClient(t *testing.T, ctx context.Context) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Evaluate[bool](`stop().then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("stop the client: %v", err)
	}
}

// bundleWHIPClients bundles the clients for the browser with the esbuild
// from the same lock and returns the bundle's path.
func bundleWHIPClients(t *testing.T) string {
	t.Helper()
	esbuild := filepath.Join(whipClientsDir, "node_modules", ".bin", "esbuild")
	if _, err := os.Stat(esbuild); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI (scripts/deps.sh test installs it)", esbuild)
		}
		t.Skipf("%s not installed: run scripts/deps.sh test", esbuild)
	}
	out := filepath.Join(t.TempDir(), "clients.js")
	cmd := exec.Command("node_modules/.bin/esbuild", "entry.js", "--bundle", "--format=iife",
		"--platform=browser", "--log-level=warning", "--outfile="+out)
	cmd.Dir = whipClientsDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, b)
	}
	return out
}

// whipClientsPage serves the page and the bundle.
func whipClientsPage(bundle string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(whipClientsDir, "page.html"))
	})
	mux.HandleFunc("GET /clients.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, bundle)
	})
	return mux
}
