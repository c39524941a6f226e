package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// standardPage serves testdata/standard-whip.html from an origin of its
// own, as a page on someone else's site would be.
func standardPage(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "testdata/standard-whip.html")
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// publishStandard opens the standards-only page in ctx's tab and waits until
// its PeerConnection is connected.
func publishStandard(t testing.TB, ctx context.Context, page, whip string) {
	t.Helper()
	u := page + "?whip=" + url.QueryEscape(whip)
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(c, chromedp.Navigate(u),
		poll(`['connected','failed'].includes(document.querySelector('#state').dataset.state)`, 25*time.Second))
	if err != nil {
		t.Fatalf("standards-only publisher: %v", err)
	}
	if st := evalT[string](t, ctx, `document.querySelector('#state').dataset.state`); st != "connected" {
		t.Fatalf("standards-only publisher %s: %s", st, evalT[string](t, ctx, `document.querySelector('#error').textContent`))
	}
}

// evalT is eval for testing.TB.
func evalT[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := evalErr[T](ctx, expr)
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// rampSample is one of the page's getStats samples.
type rampSample struct {
	T      float64 `json:"t"`
	W, H   int
	Frames int     `json:"frames"`
	FPS    float64 `json:"fps"`
	Limit  string  `json:"limit"`
	BWE    float64 `json:"bwe"`
}

// waitRamp waits up to limit for the page's sender to encode at height h
// and returns the seconds it took from its first frame (-1: never).
func waitRamp(t testing.TB, ctx context.Context, h int, limit time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if s := evalT[float64](t, ctx, "firstAt("+strconv.Itoa(h)+")"); s >= 0 {
			return s
		}
		time.Sleep(250 * time.Millisecond)
	}
	return -1
}

// BenchmarkBrowserRamp measures how long a standards-only Chromium
// publisher asking for 1280x720 takes, from its first encoded frame, to
// send 1280x720: to `castnet dev` on its defaults, and in the same run to
// a bare pion WHIP receiver with pion's defaults (bareWHIP). Run with
// -benchtime=5x; each figure is the median of the runs, a run that never
// gets there within 30 s counting as 30, with the first frame's height
// and the sender's bandwidth estimate at 2 s beside it.
func BenchmarkBrowserRamp(b *testing.B) {
	needTools(b, "chromium")
	b.Run("castnet", func(b *testing.B) {
		rampRuns(b, func() string { return startNode(b).URL + "/whip/ramp" })
	})
	b.Run("bare-pion", func(b *testing.B) {
		rampRuns(b, func() string { return bareWHIP(b) })
	})
	// A peer a user might pick instead, when built beside castnet (see
	// BENCHMARKS.md): CASTNET_PEER_MEDIAMTX is its binary and
	// CASTNET_PEER_MEDIAMTX_CONFIG a configuration serving WHIP on
	// 127.0.0.1:8889 and media on loopback only.
	if bin := os.Getenv("CASTNET_PEER_MEDIAMTX"); bin != "" {
		b.Run("mediamtx", func(b *testing.B) {
			rampRuns(b, func() string { return startMediaMTX(b, bin, os.Getenv("CASTNET_PEER_MEDIAMTX_CONFIG")) })
		})
	}
}

// startMediaMTX runs the peer for one measurement and returns its WHIP URL.
func startMediaMTX(b *testing.B, bin, config string) string {
	b.Helper()
	cmd := exec.Command(bin, config)
	if err := cmd.Start(); err != nil {
		b.Fatalf("mediamtx: %v", err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:8889"); err == nil {
			c.Close()
			return "http://127.0.0.1:8889/ramp/whip"
		}
	}
	b.Fatal("mediamtx did not listen on 127.0.0.1:8889")
	return ""
}

// rampRuns publishes b.N times, each to a fresh endpoint from whip.
func rampRuns(b *testing.B, whip func() string) {
	var secs, bwe2, startH []float64
	for i := 0; i < b.N; i++ {
		url := whip()
		ctx := browser(b)
		publishStandard(b, ctx, standardPage(b), url)
		s := waitRamp(b, ctx, 720, 30*time.Second)
		if s < 0 {
			s = 30 // never within the limit: counted as the limit
		}
		samples := evalT[[]rampSample](b, ctx, "samples")
		secs = append(secs, s)
		startH, bwe2 = append(startH, firstHeight(samples)), append(bwe2, bweAt(samples, 2))
	}
	b.Logf("seconds to 720p, each run: %v; first heights %v", secs, startH)
	b.ReportMetric(median(secs), "s-to-720p")
	b.ReportMetric(median(startH), "start-height")
	b.ReportMetric(median(bwe2), "bwe@2s-b/s")
}

func firstHeight(ss []rampSample) float64 {
	for _, s := range ss {
		if s.Frames > 0 && s.H > 0 {
			return float64(s.H)
		}
	}
	return 0
}

// bweAt is the sender's bandwidth estimate sec seconds after the first sample.
func bweAt(ss []rampSample, sec float64) float64 {
	for _, s := range ss {
		if s.T-ss[0].T >= sec*1000 {
			return s.BWE
		}
	}
	return 0
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
