package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// watchStatus is what the watch page says it plays, read from the page.
type watchStatus struct {
	Playing string   `json:"playing"` // window.castnet.playing: webrtc | hls | ""
	Via     string   `json:"via"`     // #via: WebRTC (WHEP) | HLS | LL-HLS
	Note    string   `json:"note"`    // #vianote
	Delay   string   `json:"delay"`   // #delay: "≈ 85 ms", "≈ 4.2 s"
	DelayMs *float64 `json:"delayMs"` // window.castnet.delayMs
	State   string   `json:"state"`   // #state's data-state
	Search  string   `json:"search"`  // location.search
	Frames  int      `json:"frames"`  // getVideoPlaybackQuality().totalVideoFrames
	Width   int      `json:"width"`
	Time    float64  `json:"time"` // the video's currentTime
}

const watchStatusJS = `({playing: window.castnet.playing, via: document.querySelector('#via').textContent,
  note: document.querySelector('#vianote').textContent, delay: document.querySelector('#delay').textContent,
  delayMs: window.castnet.delayMs, state: document.querySelector('#state').dataset.state, search: location.search,
  frames: document.querySelector('video#player').getVideoPlaybackQuality().totalVideoFrames,
  width: document.querySelector('video#player').videoWidth, time: document.querySelector('video#player').currentTime})`

// Conditions the tests poll for.
const (
	playsWebRTC = `window.castnet.playing === 'webrtc' && document.querySelector('#via').textContent === 'WebRTC (WHEP)' &&
  /^≈ \d+ ms$/.test(document.querySelector('#delay').textContent)`
	playsHLS = `window.castnet.playing === 'hls' && /^(LL-)?HLS$/.test(document.querySelector('#via').textContent) &&
  /^≈ [\d.]+ s$/.test(document.querySelector('#delay').textContent) && document.querySelector('video#player').currentTime > 0.5`
)

// pickMode chooses a playback mode with the page's own picker.
func pickMode(mode string) chromedp.Action[chromedp.Void] {
	return poll(`(() => { const m = document.querySelector('#mode'); m.value = '`+mode+`';
  m.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, 5*time.Second)
}

// viewers reads the stream's WHEP viewer count from the API.
func viewers(t *testing.T, n *node, stream string) int {
	t.Helper()
	resp, err := http.Get(n.URL + "/api/streams/" + stream)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Viewers int `json:"viewers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET /api/streams/%s: %v", stream, err)
	}
	return v.Viewers
}

// waitViewers waits until the stream has want WHEP viewers.
func waitViewers(t *testing.T, n *node, stream string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := viewers(t, n, stream)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s has %d WHEP viewers after %s, want %d", stream, got, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkDecoding: the video element presents new frames of the source size.
func checkDecoding(t *testing.T, ctx context.Context, what string, wantWidth int) {
	t.Helper()
	a := eval[watchStatus](t, ctx, watchStatusJS)
	time.Sleep(2 * time.Second)
	b := eval[watchStatus](t, ctx, watchStatusJS)
	fps := float64(b.Frames-a.Frames) / 2
	t.Logf("%s: %.1f frames a second at width %d", what, fps, b.Width)
	if fps < 15 || b.Time <= a.Time {
		t.Errorf("%s: %d then %d frames, time %.2f then %.2f: the video is not playing", what, a.Frames, b.Frames, a.Time, b.Time)
	}
	if wantWidth > 0 && b.Width != wantWidth {
		t.Errorf("%s: video width %d, want %d", what, b.Width, wantWidth)
	}
}

// TestWatchPagePlaysWHEPAndHLS: the watch page plays a live stream over
// WebRTC by default, within 3 s, under a second behind; ?mode=hls plays
// HLS with its delay in seconds; the picker switches back; every WHEP
// session is DELETEd when the page switches away from it or unloads.
func TestWatchPagePlaysWHEPAndHLS(t *testing.T) {
	n := startNode(t)
	startPublisher(t, "-test-pattern", "-duration", "120s", n.URL+"/whip/cam")
	n.waitState("cam", "live", 20*time.Second)
	ctx := browser(t)

	run(t, ctx, 20*time.Second, "open the watch page", chromedp.Navigate(n.URL+"/watch/cam"))
	opened := time.Now()
	run(t, ctx, 15*time.Second, "the page plays WebRTC", poll(playsWebRTC, 10*time.Second))
	took := time.Since(opened)
	s := eval[watchStatus](t, ctx, watchStatusJS)
	t.Logf("WebRTC (WHEP) shown %s after the page loaded, delay %q", took.Round(time.Millisecond), s.Delay)
	if took > 3*time.Second {
		t.Errorf("the page took %s to play WebRTC and show its delay, want within 3 s", took)
	}
	if s.DelayMs == nil || *s.DelayMs >= 1000 {
		t.Errorf("WebRTC delay %q (%v ms), want under 1000 ms", s.Delay, s.DelayMs)
	}
	checkDecoding(t, ctx, "WebRTC", 1280)
	waitViewers(t, n, "cam", 1, 5*time.Second)

	run(t, ctx, 20*time.Second, "open the watch page with ?mode=hls", chromedp.Navigate(n.URL+"/watch/cam?mode=hls"))
	opened = time.Now()
	run(t, ctx, 30*time.Second, "the page plays HLS", poll(playsHLS, 25*time.Second))
	s = eval[watchStatus](t, ctx, watchStatusJS)
	t.Logf("%s shown %s after the page loaded, delay %q", s.Via, time.Since(opened).Round(time.Millisecond), s.Delay)
	if s.DelayMs == nil || *s.DelayMs < 1000 {
		t.Errorf("HLS delay %q (%v ms): HLS cannot be under a second behind", s.Delay, s.DelayMs)
	}
	if s.Search != "?mode=hls" {
		t.Errorf("location.search %q, want ?mode=hls kept", s.Search)
	}
	checkDecoding(t, ctx, "HLS", 0)
	// The first page's session was DELETEd as it unloaded.
	waitViewers(t, n, "cam", 0, 5*time.Second)

	run(t, ctx, 15*time.Second, "pick low latency by hand", pickMode("webrtc"),
		poll(playsWebRTC+` && location.search === '?mode=webrtc'`, 10*time.Second))
	waitViewers(t, n, "cam", 1, 5*time.Second)
	// WebRTC carries the publisher's own picture; a smaller rendition is
	// picked from the quality list and plays over HLS.
	run(t, ctx, 30*time.Second, "pick 360p while on WebRTC", pickRendition("360p"),
		poll(playsHLS+` && location.search === '?mode=hls' && document.querySelector('video#player').videoHeight === 360 &&
  document.querySelector('#mode').value === 'hls'`, 25*time.Second))
	waitViewers(t, n, "cam", 0, 5*time.Second)
}

// pickRendition chooses, in the quality list, the option whose label
// starts with label.
func pickRendition(label string) chromedp.Action[chromedp.Void] {
	return poll(`(() => { const r = document.querySelector('#renditions');
  const o = Array.from(r.options).find((o) => o.textContent.startsWith('`+label+`'));
  if (!o || r.disabled) return false;
  r.value = o.value; r.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, 10*time.Second)
}

// TestWatchPagePlaysTheRecordingWhenTheStreamEnds: WebRTC carries only the
// live stream; when it ends the page says so and plays the recording over
// HLS, and the WHEP session is gone.
func TestWatchPagePlaysTheRecordingWhenTheStreamEnds(t *testing.T) {
	n := startNode(t)
	startPublisher(t, "-test-pattern", "-duration", "8s", n.URL+"/whip/short")
	n.waitState("short", "live", 20*time.Second)
	ctx := browser(t)
	run(t, ctx, 20*time.Second, "the page plays WebRTC", chromedp.Navigate(n.URL+"/watch/short"),
		poll(playsWebRTC, 10*time.Second))
	n.waitState("short", "ended", time.Minute)
	run(t, ctx, 30*time.Second, "the page plays the recording",
		poll(`window.castnet.playing === 'hls' && document.querySelector('#state').dataset.state === 'ended' &&
  document.querySelector('#vianote').textContent === ' — the recording' && document.querySelector('#delaybox').hidden &&
  document.querySelector('video#player').currentTime > 1`, 25*time.Second))
	waitViewers(t, n, "short", 0, 5*time.Second)
}

// TestWatchPageWaitsForAStreamNotLiveYet: a page opened before anyone
// publishes says it is waiting and sends no offer (the WHEP endpoint would
// answer 409); it polls the API and starts WebRTC once the stream is live.
func TestWatchPageWaitsForAStreamNotLiveYet(t *testing.T) {
	n := startNode(t)
	ctx := browser(t)
	run(t, ctx, 20*time.Second, "open the watch page", chromedp.Navigate(n.URL+"/watch/later"),
		poll(`document.querySelector('#state').dataset.state === 'waiting' &&
  document.querySelector('#overlaytext').textContent === 'Waiting for the stream to start…'`, 5*time.Second))
	time.Sleep(3 * time.Second)
	if s := eval[watchStatus](t, ctx, watchStatusJS); s.State != "waiting" || s.Playing != "" {
		t.Fatalf("before the stream: %+v, want waiting with nothing attached", s)
	}
	startPublisher(t, "-test-pattern", "-duration", "60s", n.URL+"/whip/later")
	started := time.Now()
	n.waitState("later", "live", 20*time.Second)
	t.Logf("live after %s", time.Since(started))
	run(t, ctx, 30*time.Second, "the page plays WebRTC once live", poll(playsWebRTC, 25*time.Second))
	s := eval[watchStatus](t, ctx, watchStatusJS)
	t.Logf("WebRTC (WHEP) shown %s after the publisher started, delay %q, failures before %s",
		time.Since(started).Round(time.Millisecond), s.Delay, eval[string](t, ctx, `JSON.stringify(window.castnet.failures)`))
	checkDecoding(t, ctx, "WebRTC", 1280)
}

// noICEJS makes every RTCPeerConnection of the page relay-only with no
// relay to use: it gathers no candidate, so ICE can never connect, as
// behind a firewall that drops UDP.
const noICEJS = `(() => {
  const Real = window.RTCPeerConnection;
  function Blocked(config) { return new Real(Object.assign({}, config, {iceTransportPolicy: 'relay'})); }
  Blocked.prototype = Real.prototype;
  window.RTCPeerConnection = Blocked;
})();`

// TestWatchPageFallsBackToHLSWhenWebRTCCannotConnect: when ICE does not
// connect within about 5 s the page plays HLS instead, says why, and has
// DELETEd its WHEP session.
func TestWatchPageFallsBackToHLSWhenWebRTCCannotConnect(t *testing.T) {
	n := startNode(t)
	startPublisher(t, "-test-pattern", "-duration", "90s", n.URL+"/whip/blocked")
	n.waitState("blocked", "live", 20*time.Second)
	ctx := browser(t)
	run(t, ctx, 20*time.Second, "open the watch page with WebRTC blocked",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: noICEJS})
			return err
		}),
		chromedp.Navigate(n.URL+"/watch/blocked"))
	opened := time.Now()
	run(t, ctx, 40*time.Second, "the page falls back to HLS", poll(playsHLS, 35*time.Second))
	s := eval[watchStatus](t, ctx, watchStatusJS)
	t.Logf("%s shown %s after the page loaded%s, delay %q", s.Via, time.Since(opened).Round(time.Millisecond), s.Note, s.Delay)
	if took := time.Since(opened); took < 4*time.Second {
		t.Errorf("HLS after %s: the page did not give WebRTC its 5 s", took)
	}
	if s.Search != "" {
		t.Errorf("location.search %q: an automatic fallback is not a hand choice", s.Search)
	}
	if want := "low latency unavailable: no WebRTC connection within 5 s"; s.Note != " — "+want {
		t.Errorf("note %q, want it to say %q", s.Note, want)
	}
	waitViewers(t, n, "blocked", 0, 5*time.Second)
}
