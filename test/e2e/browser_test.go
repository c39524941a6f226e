package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium with a fake camera and microphone and a
// fresh profile, with the flags the project's machines need.
func browser(t testing.TB) context.Context {
	t.Helper()
	needTools(t, "chromium", "ffmpeg", "ffprobe")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Keep WebRTC on loopback: offer 127.0.0.1 candidates, not mDNS names.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run does the steps in the tab of ctx within timeout, and on failure
// reports what the page itself said.
func run(t testing.TB, ctx context.Context, timeout time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		state, _ := evalErr[string](ctx, `(document.querySelector('#state')||{}).textContent||''`)
		msg, _ := evalErr[string](ctx, `(document.querySelector('#error')||{}).textContent||''`)
		t.Fatalf("%s: %v (page state %q, error %q)", what, err, state, msg)
	}
}

// eval evaluates a JavaScript expression in the tab of ctx.
func eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := evalErr[T](ctx, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// evalErr evaluates through Poll on a JSON string (always truthy), because
// a plain Runtime.evaluate in a second tab of chromedp v0.23 was seen to
// never get its reply while polling in the same tab works.
func evalErr[T any](ctx context.Context, expr string) (T, error) {
	var v T
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Poll[string]("JSON.stringify("+expr+")",
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal([]byte(s), &v)
}

func poll(expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(200*time.Millisecond))
}

// TestBrowserGoLiveAndWatch: a person opens the publisher page, goes live
// with the (fake) camera for about ten seconds while someone watches, and
// stops; the recording has every rendition, decodable and ended.
func TestBrowserGoLiveAndWatch(t *testing.T) {
	ctx := browser(t)
	n := startNode(t)
	run(t, ctx, 30*time.Second, "open publisher page",
		chromedp.Navigate(n.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#golive")),
		chromedp.SetValue(chromedp.CSS("#stream"), "browser"),
		chromedp.Click(chromedp.CSS("#golive")),
		poll(`document.querySelector('#state').dataset.state === 'live'`, 20*time.Second),
	)
	started := time.Now()
	for {
		st, _ := n.stream("browser")
		if st.Published >= 2 {
			break
		}
		if time.Since(started) > 30*time.Second {
			t.Fatalf("no segment published 30s after going live: %+v", st)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The viewer gets a browser of its own: a second tab of the same
	// browser stopped answering DevTools calls under chromedp v0.23.
	watch := browser(t)
	run(t, watch, 40*time.Second, "watch page plays",
		chromedp.Navigate(n.URL+"/watch/browser"),
		poll(`document.querySelector('video#player').currentTime > 0.5`, 30*time.Second),
	)
	const now = `document.querySelector('video#player').currentTime`
	t1 := eval[float64](t, watch, now)
	time.Sleep(2 * time.Second)
	t2 := eval[float64](t, watch, now)
	if t2 <= t1 {
		t.Errorf("watch page video did not advance: %.2f then %.2f", t1, t2)
	}
	levels := eval[int](t, watch, `document.querySelectorAll('select#renditions option').length`)
	if levels < 2 {
		t.Errorf("rendition picker has %d options, want Auto plus each rendition (engine %s)", levels, eval[string](t, watch, `String(window.castnet.engine)`))
	}

	if rest := 10*time.Second - time.Since(started); rest > 0 {
		time.Sleep(rest)
	}
	run(t, ctx, 20*time.Second, "stop",
		chromedp.Click(chromedp.CSS("#stop")),
		poll(`document.querySelector('#state').dataset.state === 'stopped'`, 15*time.Second),
	)
	published := time.Since(started).Seconds()
	st := n.waitState("browser", "ended", time.Minute)
	dir := filepath.Join(n.Data, "hls", "browser")
	checkLadder(t, dir, defaultRungs, wantSizes)
	if len(st.Renditions) != len(defaultRungs) {
		t.Errorf("API reports renditions %+v, want %v", st.Renditions, defaultRungs)
	}
	checkRecording(t, dir, published, 0.35, nil)
	t.Logf("published %.1fs, %d segments, first segment latency %s", published, st.Published, st.Latency)
}
