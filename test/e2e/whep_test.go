package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// playerResult is what testdata/whep-player.html records.
type playerResult struct {
	State        string  `json:"state"`
	Status       int     `json:"status"`
	Error        string  `json:"error"`
	Location     string  `json:"location"`
	ETag         string  `json:"etag"`
	FirstFrameMs float64 `json:"firstFrameMs"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
}

type decodedStats struct {
	Frames int     `json:"frames"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Lost   int     `json:"lost"`
	At     float64 `json:"at"`
}

// playerPage serves the standards-only WHEP player from its own origin.
func playerPage(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir("testdata")))
	t.Cleanup(srv.Close)
	return srv.URL + "/whep-player.html"
}

// TestBrowserPlaysWHEPFromAnotherOrigin: Chromium's own RTCPeerConnection,
// on a page from another origin, plays a 720p30 publisher over WHEP on
// make run's defaults: first frame within 1 s of the POST, at least 20
// decoded frames a second at the source's size, and DELETE answers 200.
func TestBrowserPlaysWHEPFromAnotherOrigin(t *testing.T) {
	n := startNode(t)
	startPublisher(t, "-test-pattern", "-duration", "40s", n.URL+"/whip/cam")
	n.waitState("cam", "live", 20*time.Second)
	ctx := browser(t)
	page := playerPage(t) + "?whep=" + url.QueryEscape(n.URL+"/whep/cam")
	run(t, ctx, 20*time.Second, "open the player", chromedp.Navigate(page),
		poll(`['playing','refused','error'].includes(window.result.state)`, 15*time.Second))
	r := eval[playerResult](t, ctx, `window.result`)
	if r.State != "playing" {
		t.Fatalf("player %s (HTTP %d): %s", r.State, r.Status, r.Error)
	}
	if r.Location == "" || r.ETag == "" {
		t.Errorf("201 without Location (%q) or ETag (%q) readable across origins", r.Location, r.ETag)
	}
	t.Logf("first frame %.0f ms after the POST, %dx%d", r.FirstFrameMs, r.Width, r.Height)
	if r.FirstFrameMs > 1000 {
		t.Errorf("first frame %.0f ms after the POST, want within 1 s", r.FirstFrameMs)
	}
	a := evalAsync[decodedStats](t, ctx, `decoded()`)
	time.Sleep(4 * time.Second)
	b := evalAsync[decodedStats](t, ctx, `decoded()`)
	fps := float64(b.Frames-a.Frames) / ((b.At - a.At) / 1000)
	t.Logf("decoding %.1f fps at %dx%d, %d packets lost", fps, b.Width, b.Height, b.Lost)
	if fps < 20 || b.Width != 1280 || b.Height != 720 {
		t.Errorf("decoding %.1f fps at %dx%d, want ≥ 20 fps at 1280x720", fps, b.Width, b.Height)
	}
	if code := evalAsync[int](t, ctx, `hangUp()`); code != http.StatusOK {
		t.Errorf("DELETE answered %d, want 200", code)
	}
}

// evalAsync evaluates a JavaScript expression whose value is a promise.
func evalAsync[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// TestBrowserPlaysARenditionOverWHEP: ?rendition=360p plays the 360p rung,
// fed from its published segments with Opus audio, at the rung's size.
func TestBrowserPlaysARenditionOverWHEP(t *testing.T) {
	n := startNode(t)
	startPublisher(t, "-test-pattern", "-duration", "40s", n.URL+"/whip/rung")
	n.waitPublished(t, "rung", 2, time.Minute)
	ctx := browser(t)
	page := playerPage(t) + "?whep=" + url.QueryEscape(n.URL+"/whep/rung?rendition=360p")
	run(t, ctx, 20*time.Second, "open the player", chromedp.Navigate(page),
		poll(`['playing','refused','error'].includes(window.result.state)`, 15*time.Second))
	r := eval[playerResult](t, ctx, `window.result`)
	if r.State != "playing" {
		t.Fatalf("player %s (HTTP %d): %s", r.State, r.Status, r.Error)
	}
	t.Logf("first frame of the 360p rung %.0f ms after the POST", r.FirstFrameMs)
	a := evalAsync[decodedStats](t, ctx, `decoded()`)
	time.Sleep(4 * time.Second)
	b := evalAsync[decodedStats](t, ctx, `decoded()`)
	fps := float64(b.Frames-a.Frames) / ((b.At - a.At) / 1000)
	t.Logf("decoding %.1f fps at %dx%d", fps, b.Width, b.Height)
	if fps < 20 || b.Width != 640 || b.Height != 360 {
		t.Errorf("decoding %.1f fps at %dx%d, want ≥ 20 fps at 640x360", fps, b.Width, b.Height)
	}
	if code := evalAsync[int](t, ctx, `hangUp()`); code != http.StatusOK {
		t.Errorf("DELETE answered %d, want 200", code)
	}
}
