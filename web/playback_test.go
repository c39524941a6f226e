package web

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// runPlayback runs calls against static/playback.js under node.
func runPlayback(t *testing.T, calls []call) []string {
	t.Helper()
	raw := runHarness(t, "playback_harness.js", "playback.js", calls)
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i] = string(r)
	}
	return out
}

// jsTest is one call of a pure page function and its JSON result.
type jsTest struct {
	name string
	call call
	want string // JSON
}

func checkPlayback(t *testing.T, tests []jsTest) {
	t.Helper()
	calls := make([]call, len(tests))
	for i, tt := range tests {
		calls[i] = tt.call
	}
	got := runPlayback(t, calls)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[i] != tt.want {
				t.Errorf("%s(%v)\n got %s\nwant %s", tt.call.Fn, tt.call.Args, got[i], tt.want)
			}
		})
	}
}

// The mode lives in the URL: a shared link plays the way it was chosen.
func TestPlaybackModeFromURL(t *testing.T) {
	checkPlayback(t, []jsTest{
		{"no mode is automatic", call{"modeFromSearch", []any{""}}, `"auto"`},
		{"hls by hand", call{"modeFromSearch", []any{"?mode=hls"}}, `"hls"`},
		{"webrtc by hand, any case", call{"modeFromSearch", []any{"?mode=WebRTC"}}, `"webrtc"`},
		{"among other parameters", call{"modeFromSearch", []any{"?t=1&mode=hls"}}, `"hls"`},
		{"an unknown mode is automatic", call{"modeFromSearch", []any{"?mode=rtmp"}}, `"auto"`},
		{"choosing hls keeps other parameters", call{"searchWithMode", []any{"?t=1", "hls"}}, `"?t=1&mode=hls"`},
		{"choosing webrtc replaces hls", call{"searchWithMode", []any{"?mode=hls", "webrtc"}}, `"?mode=webrtc"`},
		{"automatic removes the parameter", call{"searchWithMode", []any{"?mode=hls&t=1", "auto"}}, `"?t=1"`},
		{"automatic on a bare URL adds nothing", call{"searchWithMode", []any{"", "auto"}}, `""`},
	})
}

func TestPlaybackRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := float64(now.UnixMilli())
	checkPlayback(t, []jsTest{
		{"delay-seconds", call{"retryAfterMs", []any{"2", ms}}, `2000`},
		{"padded delay-seconds", call{"retryAfterMs", []any{" 7 ", ms}}, `7000`},
		{"zero is not an instant retry", call{"retryAfterMs", []any{"0", ms}}, `500`},
		{"an hour is capped", call{"retryAfterMs", []any{"3600", ms}}, `10000`},
		{"an HTTP-date", call{"retryAfterMs", []any{now.Add(5 * time.Second).Format(http.TimeFormat), ms}}, `5000`},
		{"an HTTP-date in the past", call{"retryAfterMs", []any{now.Add(-time.Minute).Format(http.TimeFormat), ms}}, `500`},
		{"missing", call{"retryAfterMs", []any{nil, ms}}, `2000`},
		{"garbage", call{"retryAfterMs", []any{"soon", ms}}, `2000`},
	})
}

// TestPlaybackFallbackDecisions: what follows a WebRTC failure.
func TestPlaybackFallbackDecisions(t *testing.T) {
	refused := func(status, retryMs int) map[string]any {
		return map[string]any{"kind": "refused", "status": status, "retryAfterMs": retryMs}
	}
	next := func(mode string, failure map[string]any, retries int, hls bool) call {
		return call{"whepNext", []any{map[string]any{"mode": mode, "failure": failure, "retries": retries, "hlsAvailable": hls}}}
	}
	timeout := map[string]any{"kind": "timeout"}
	failed := map[string]any{"kind": "failed"}
	retry := func(ms int) string { return `{"action":"retry","delayMs":` + strconv.Itoa(ms) + `}` }
	const hls = `{"action":"hls"}`
	checkPlayback(t, []jsTest{
		{"not live yet: retried once after Retry-After", next("auto", refused(409, 2000), 0, true), retry(2000)},
		{"not live on the retry: HLS", next("auto", refused(409, 2000), 1, true), hls},
		{"viewer limit: retried once after Retry-After", next("auto", refused(503, 10000), 0, true), retry(10000)},
		{"viewer limit on the retry: HLS", next("auto", refused(503, 10000), 1, true), hls},
		{"a bad request: HLS at once", next("auto", refused(400, 0), 0, true), hls},
		{"no connection or no frame in 5 s: HLS", next("auto", timeout, 0, true), hls},
		{"a playing session broke: HLS", next("auto", failed, 0, true), hls},
		{"an exception: HLS", next("auto", map[string]any{"kind": "error"}, 0, true), hls},
		{"chosen by hand: WebRTC again after Retry-After", next("webrtc", refused(503, 10000), 5, true), retry(10000)},
		{"chosen by hand: WebRTC again after a timeout", next("webrtc", timeout, 3, true), retry(2000)},
		{"no HLS in this browser: WebRTC again", next("auto", timeout, 1, false), retry(2000)},
	})
}

// TestPlaybackDelay: WebRTC's delay is the jitter buffer's mean delay over
// the last second plus half the selected pair's RTT; HLS's is now minus
// the program date-time played, else hls.js's distance to the live edge.
func TestPlaybackDelay(t *testing.T) {
	video := func(delay float64, emitted int) map[string]any {
		return map[string]any{"type": "inbound-rtp", "kind": "video", "framesDecoded": emitted,
			"jitterBufferDelay": delay, "jitterBufferEmittedCount": emitted}
	}
	audio := map[string]any{"type": "inbound-rtp", "kind": "audio", "jitterBufferDelay": 100.0, "jitterBufferEmittedCount": 1}
	transport := map[string]any{"type": "transport", "selectedCandidatePairId": "CPb"}
	pairs := []any{
		map[string]any{"type": "candidate-pair", "id": "CPa", "nominated": true, "state": "succeeded", "currentRoundTripTime": 0.5},
		map[string]any{"type": "candidate-pair", "id": "CPb", "nominated": true, "state": "succeeded", "currentRoundTripTime": 0.02},
	}
	stats := func(v ...any) []any { return append(v, pairs...) }
	const now = 1_700_000_000_000.0
	checkPlayback(t, []jsTest{
		{"first sample: the mean since the start", call{"webrtcDelay", []any{nil, stats(audio, transport, video(0.5, 10))}}, `60`},
		{"later: the mean over the last second", call{"webrtcDelay", []any{stats(transport, video(0.5, 10)), stats(transport, video(0.9, 20))}}, `50`},
		{"no new frame: the mean since the start", call{"webrtcDelay", []any{stats(transport, video(0.9, 20)), stats(transport, video(0.9, 20))}}, `55`},
		{"no transport stats: the nominated pair", call{"webrtcDelay", []any{nil, []any{video(0.3, 10), pairs[0]}}}, `280`},
		{"no RTT: the buffer alone", call{"webrtcDelay", []any{nil, []any{video(0.3, 10)}}}, `30`},
		{"no frame yet", call{"webrtcDelay", []any{nil, stats(transport, video(0, 0))}}, `null`},
		{"HLS with program date-time", call{"hlsDelaySeconds", []any{2.5, now - 4200, now}}, `4.2`},
		{"HLS without: hls.js latency", call{"hlsDelaySeconds", []any{2.5, nil, now}}, `2.5`},
		{"HLS with a date-time ahead of the clock: latency", call{"hlsDelaySeconds", []any{3, now + 1000, now}}, `3`},
		{"HLS before the first playlist", call{"hlsDelaySeconds", []any{0, nil, now}}, `null`},
		{"WebRTC in milliseconds", call{"formatDelay", []any{"ms", 84.6}}, `"≈ 85 ms"`},
		{"HLS in tenths of seconds", call{"formatDelay", []any{"s", 4.23}}, `"≈ 4.2 s"`},
		{"HLS beyond ten seconds in seconds", call{"formatDelay", []any{"s", 12.6}}, `"≈ 13 s"`},
		{"unknown delay shows nothing", call{"formatDelay", []any{"ms", nil}}, `""`},
	})
}

func TestPlaybackHLSAndLadder(t *testing.T) {
	levels := []any{
		map[string]any{"height": 360, "bitrate": 1_000_000},
		map[string]any{"height": 720, "bitrate": 3_000_000},
		map[string]any{"height": 480, "bitrate": 1_600_000},
		map[string]any{"height": 720, "bitrate": 2_000_000},
	}
	checkPlayback(t, []jsTest{
		{"a playlist with parts is LL-HLS", call{"hlsLabel", []any{map[string]any{"partList": []any{map[string]any{}}}}}, `"LL-HLS"`},
		{"a playlist without parts is HLS", call{"hlsLabel", []any{map[string]any{"partList": nil}}}, `"HLS"`},
		{"before the first playlist: HLS", call{"hlsLabel", []any{nil}}, `"HLS"`},
		{"ladder highest first", call{"ladderOrder", []any{levels}}, `[1,3,2,0]`},
		{"the rendition picked on WebRTC", call{"closestLevel", []any{levels, map[string]any{"height": 720, "bitrate": 2_100_000}}}, `3`},
		{"a rendition gone from the playlist", call{"closestLevel", []any{levels, map[string]any{"height": 1080, "bitrate": 5_000_000}}}, `-1`},
	})
}
