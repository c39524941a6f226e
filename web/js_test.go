package web

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// node returns the path of node, skipping the test where it is missing.
func node(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed; JavaScript checks skipped")
	}
	return p
}

// ourScripts lists the page scripts (vendored code is not ours to check).
func ourScripts(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(staticFS, "static/*.js")
	if err != nil || len(names) < 3 {
		t.Fatalf("scripts %v, err %v: want common.js, publish.js, watch.js", names, err)
	}
	return names
}

func TestJavaScriptParses(t *testing.T) {
	bin := node(t)
	for _, name := range ourScripts(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			out, err := exec.Command(bin, "--check", filepath.FromSlash(name)).CombinedOutput()
			if err != nil {
				t.Fatalf("node --check %s: %v\n%s", name, err, out)
			}
		})
	}
}

// call is one invocation of a CastnetCommon function in the harness.
type call struct {
	Fn   string `json:"fn"`
	Args []any  `json:"args"`
}

// runCommon runs calls against static/common.js under node and returns each
// result as JSON.
func runCommon(t *testing.T, calls []call) []json.RawMessage {
	t.Helper()
	in, err := json.Marshal(calls)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node(t), filepath.Join("testdata", "common_harness.js"), filepath.Join("static", "common.js"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, stderr.String())
	}
	var results []json.RawMessage
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(calls) {
		t.Fatalf("harness output %q: %v", out, err)
	}
	return results
}

func TestCommonJSHelpers(t *testing.T) {
	chrome := []any{
		map[string]any{"mimeType": "video/VP8"},
		map[string]any{"mimeType": "video/rtx"},
		map[string]any{"mimeType": "video/H264", "sdpFmtpLine": "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"},
		map[string]any{"mimeType": "video/H264", "sdpFmtpLine": "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f"},
		map[string]any{"mimeType": "video/H264", "sdpFmtpLine": "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"},
		map[string]any{"mimeType": "video/H264", "sdpFmtpLine": "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		map[string]any{"mimeType": "video/AV1"},
	}
	tests := []struct {
		name string
		call call
		want string // JSON
	}{
		{"bitrate below a kilobit", call{"formatBitrate", []any{999}}, `"999 bps"`},
		{"bitrate in kbps", call{"formatBitrate", []any{850_400}}, `"850 kbps"`},
		{"bitrate in Mbps", call{"formatBitrate", []any{2_100_000}}, `"2.1 Mbps"`},
		{"bitrate unknown", call{"formatBitrate", []any{nil}}, `"—"`},
		{"duration under an hour", call{"formatDuration", []any{83_999}}, `"1:23"`},
		{"duration over an hour", call{"formatDuration", []any{3_723_000}}, `"1:02:03"`},
		{"rendition label", call{"renditionLabel", []any{720, 2_100_000}}, `"720p · 2.1 Mbps"`},
		{"rendition without size uses the fallback", call{"renditionLabel", []any{0, 0, "Level 1"}}, `"Level 1"`},
		{"stream from a watch path", call{"streamFromPath", []any{"/watch/cam-1"}}, `"cam-1"`},
		{"stream from an escaped path", call{"streamFromPath", []any{"/watch/cam%5F1"}}, `"cam_1"`},
		{"stream from a path with a trailing slash", call{"streamFromPath", []any{"/watch/cam/"}}, `"cam"`},
		{"no stream from a nested path", call{"streamFromPath", []any{"/watch/a/b"}}, `""`},
		{"no stream from a bad escape", call{"streamFromPath", []any{"/watch/%E0%A4%A"}}, `""`},
		{"no stream from an invalid name", call{"streamFromPath", []any{"/watch/a%20b"}}, `""`},
		{"H.264 packetization-mode=1 first, constrained baseline leading",
			call{"orderCodecs", []any{chrome}},
			`["video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",` +
				`"video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",` +
				`"video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",` +
				`"video/H264 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",` +
				`"video/VP8","video/rtx","video/AV1"]`},
		{"server refusal shows castnet's text body", call{"responseReason", []any{409, "409 conflict: stream already live\n", ""}}, `"409 conflict: stream already live"`},
		{"server refusal without a body shows the status", call{"responseReason", []any{401, "", ""}}, `"401"`},
		{"bare body gets the status in front", call{"responseReason", []any{401, "bad token", ""}}, `"401 bad token"`},
		{"HTML error pages are not shown", call{"responseReason", []any{502, "<html>bad gateway</html>", ""}}, `"502"`},
		{"Retry-After seconds are shown", call{"responseReason", []any{503, "503 service unavailable: busy", "7"}}, `"503 service unavailable: busy (retry after 7 s)"`},
		{"denied camera", call{"describeMediaError", []any{map[string]any{"name": "NotAllowedError"}, "camera"}},
			`"Permission denied: allow camera and microphone access for this site (in the address bar or site settings), then try again."`},
		{"cancelled screen share", call{"describeMediaError", []any{map[string]any{"name": "NotAllowedError"}, "screen"}},
			`"Screen sharing was cancelled or blocked. Choose a screen, window or tab to share."`},
		{"no camera", call{"describeMediaError", []any{map[string]any{"name": "NotFoundError"}, "camera"}},
			`"No camera found. Connect a camera, or choose Screen share as the source."`},
		{"server refusal is shown as written", call{"describePublishError", []any{"user", "The server refused the stream: 409 conflict"}}, `"The server refused the stream: 409 conflict"`},
		{"unreachable server", call{"describePublishError", []any{"type", "Failed to fetch"}}, `"Could not reach the server: Failed to fetch"`},
	}
	calls := make([]call, len(tests))
	for i, tt := range tests {
		calls[i] = tt.call
	}
	results := runCommon(t, calls)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(results[i]); got != tt.want {
				t.Errorf("%s(%v)\n got %s\nwant %s", tt.call.Fn, tt.call.Args, got, tt.want)
			}
		})
	}
}

// The page and the server must agree on which stream names exist.
func TestStreamNameRuleMatchesGo(t *testing.T) {
	names := []string{"a", "stream-ab12", "A_b-9", strings.Repeat("x", 64), strings.Repeat("x", 65),
		"", "a b", "a.b", "a/b", "é", "a\n", "../x", "-", "_"}
	var calls []call
	for _, n := range names {
		calls = append(calls, call{"isValidStreamName", []any{n}})
	}
	for range 20 {
		calls = append(calls, call{"randomStreamName", nil})
	}
	results := runCommon(t, calls)
	for i, n := range names {
		if js, goes := string(results[i]) == "true", streamNameRE.MatchString(n); js != goes {
			t.Errorf("name %q: JavaScript says %v, Go says %v", n, js, goes)
		}
	}
	seen := map[string]bool{}
	for _, raw := range results[len(names):] {
		var n string
		if err := json.Unmarshal(raw, &n); err != nil || !streamNameRE.MatchString(n) || !strings.HasPrefix(n, "stream-") {
			t.Errorf("randomStreamName() = %s: want a valid stream-xxxx name", raw)
		}
		seen[n] = true
	}
	if len(seen) < 15 {
		t.Errorf("randomStreamName gave only %d distinct names in 20 calls", len(seen))
	}
}
