package web

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	h, err := Handler(Config{})
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	return h
}

// get sends one request through h without a network, the way the server would.
func get(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://castnet.test/", nil)
	// Set the path after parsing so that dot segments reach the handler
	// untouched, as they do from a real client that does not clean them.
	req.URL.Path = target
	req.RequestURI = target
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerRoutes(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name        string
		method      string
		path        string
		status      int
		contentType string
	}{
		{"publisher page", "GET", "/", 200, "text/html; charset=utf-8"},
		{"publisher page answers HEAD", "HEAD", "/", 200, "text/html; charset=utf-8"},
		{"watch page", "GET", "/watch/x", 200, "text/html; charset=utf-8"},
		{"watch page with a trailing slash is unknown", "GET", "/watch/x/", 404, ""},
		{"watch page of a long valid name", "GET", "/watch/" + strings.Repeat("a", 64), 200, "text/html; charset=utf-8"},
		{"watch page of a too long name", "GET", "/watch/" + strings.Repeat("a", 65), 404, ""},
		{"watch page of a name with a space", "GET", "/watch/bad name", 404, ""},
		{"watch page of a name with a dot", "GET", "/watch/a.b", 404, ""},
		{"watch page without a name", "GET", "/watch/", 404, ""},
		{"watch page with two segments", "GET", "/watch/a/b", 404, ""},
		{"stylesheet", "GET", "/static/app.css", 200, "text/css; charset=utf-8"},
		{"shared script", "GET", "/static/common.js", 200, "text/javascript; charset=utf-8"},
		{"publisher script", "GET", "/static/publish.js", 200, "text/javascript; charset=utf-8"},
		{"watch script", "GET", "/static/watch.js", 200, "text/javascript; charset=utf-8"},
		{"wallet script", "GET", "/static/wallet.js", 200, "text/javascript; charset=utf-8"},
		{"icon", "GET", "/static/favicon.svg", 200, "image/svg+xml"},
		{"unknown asset", "GET", "/static/nope.js", 404, ""},
		{"static directory is not listed", "GET", "/static/", 404, ""},
		{"vendor directory is not listed", "GET", "/static/vendor/", 404, ""},
		{"vendor readme is not served", "GET", "/static/vendor/README.txt", 404, ""},
		{"unknown path", "GET", "/nope", 404, ""},
		{"page templates are not served", "GET", "/pages/publish.html", 404, ""},
		{"dot-dot out of watch", "GET", "/watch/../", 400, ""},
		{"dot-dot as the stream", "GET", "/watch/..", 400, ""},
		{"dot-dot out of static", "GET", "/static/../web.go", 400, ""},
		{"dot segment", "GET", "/static/./app.css", 400, ""},
		{"publisher page refuses POST", "POST", "/", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(h, tt.method, tt.path, nil)
			if rec.Code != tt.status {
				t.Fatalf("%s %s: status %d, want %d (body %q)", tt.method, tt.path, rec.Code, tt.status, rec.Body.String())
			}
			if tt.contentType != "" {
				if got := rec.Header().Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type %q, want %q", got, tt.contentType)
				}
				if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options %q, want nosniff", got)
				}
			}
		})
	}
}

func TestWatchPageIsTheSameForEveryStream(t *testing.T) {
	h := newTestHandler(t)
	a := get(h, "GET", "/watch/alpha", nil).Body.String()
	b := get(h, "GET", "/watch/Beta_2-x", nil).Body.String()
	if a != b {
		t.Fatal("watch pages differ between streams; the page must read the name from location.pathname")
	}
	if strings.Contains(a, "alpha") {
		t.Fatal("watch page embeds the stream name; it must come from location.pathname")
	}
}

func TestPagesSendSecurityHeaders(t *testing.T) {
	h := newTestHandler(t)
	for _, path := range []string{"/", "/watch/x"} {
		hdr := get(h, "GET", path, nil).Header()
		csp := hdr.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "media-src 'self' blob:", "worker-src 'self' blob:", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if hdr.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: X-Frame-Options %q, want DENY", path, hdr.Get("X-Frame-Options"))
		}
	}
}

func TestAssetsRevalidateWithETag(t *testing.T) {
	h := newTestHandler(t)
	for _, path := range []string{"/", "/static/app.css"} {
		first := get(h, "GET", path, nil)
		etag := first.Header().Get("ETag")
		if etag == "" || first.Header().Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: ETag %q, Cache-Control %q; want an ETag and no-cache", path, etag, first.Header().Get("Cache-Control"))
		}
		again := get(h, "GET", path, http.Header{"If-None-Match": {etag}})
		if again.Code != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %s: status %d, want 304", path, etag, again.Code)
		}
		stale := get(h, "GET", path, http.Header{"If-None-Match": {`"stale"`}})
		if stale.Code != http.StatusOK {
			t.Errorf("%s with a stale ETag: status %d, want 200", path, stale.Code)
		}
	}
}

// assetRefRE finds the asset URLs a page loads.
var assetRefRE = regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)

func TestPagesLoadOnlyAssetsThatExist(t *testing.T) {
	h := newTestHandler(t)
	for _, page := range []string{"/", "/watch/x"} {
		body := get(h, "GET", page, nil).Body.String()
		refs := assetRefRE.FindAllStringSubmatch(body, -1)
		if len(refs) < 3 {
			t.Fatalf("%s links %d assets, want at least the stylesheet and two scripts", page, len(refs))
		}
		for _, m := range refs {
			url := strings.ReplaceAll(m[1], "&amp;", "&")
			path, version, _ := strings.Cut(url, "?v=")
			rec := get(h, "GET", path, nil)
			if rec.Code != http.StatusOK {
				t.Errorf("%s links %s, which answers %d", page, url, rec.Code)
			}
			if `"`+version+`"` != rec.Header().Get("ETag") {
				t.Errorf("%s links %s, but the asset's ETag is %s: stale cache-busting version", page, url, rec.Header().Get("ETag"))
			}
		}
	}
}

// The browser end-to-end tests find elements by these ids; renaming one
// breaks them, so the contract is pinned here.
func TestPagesKeepTheIDsBrowserTestsUse(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		page string
		want []string // regexps over the HTML
	}{
		{"/", []string{
			`<select id="source"`, `<option value="camera"`, `<option value="screen"`,
			`<input id="stream"`, `<input id="token"`,
			`<button type="submit" id="golive"`, `<button type="button" id="stop"`,
			`id="state" [^>]*data-state="idle"`, `id="error"`,
			`id="bitrate"`, `id="resolution"`, `id="elapsed"`, `<a id="watchlink"`,
			`<label for="source">`, `<label for="stream">`, `<label for="token">`,
		}},
		{"/watch/x", []string{
			`<video id="player"`, `<select id="renditions"`, `<option value="-1">Auto</option>`,
			`id="state" [^>]*data-state="waiting"`, `<label for="renditions">`,
			`<select id="mode"`, `<option value="webrtc">Low latency \(WebRTC\)</option>`, `<option value="hls">HLS</option>`,
			`<label for="mode">`, `id="via" [^>]*aria-live="polite"`, `id="delay"`, `id="error"`,
		}},
	}
	for _, tt := range tests {
		body := get(h, "GET", tt.page, nil).Body.String()
		for _, re := range tt.want {
			if !regexp.MustCompile(re).MatchString(body) {
				t.Errorf("%s: no match for %s", tt.page, re)
			}
		}
	}
}

// staticTree returns the real static tree, with or without hls.js.
func staticTree(t *testing.T, withHLSJS bool) fs.FS {
	t.Helper()
	tree := fstest.MapFS{}
	for _, name := range []string{"app.css", "common.js", "playback.js", "publish.js", "wallet.js", "whep.js", "watch.js", "favicon.svg"} {
		b, err := fs.ReadFile(staticFS, "static/"+name)
		if err != nil {
			t.Fatal(err)
		}
		tree[name] = &fstest.MapFile{Data: b}
	}
	tree["vendor/README.txt"] = &fstest.MapFile{Data: []byte("placeholder")}
	if withHLSJS {
		tree[HLSJSPath] = &fstest.MapFile{Data: []byte("/* hls.js stand-in */")}
	}
	return tree
}

func TestWatchPageLoadsHLSJSOnlyWhenVendored(t *testing.T) {
	for _, tt := range []struct {
		name    string
		vendor  bool
		wantTag bool
	}{
		{"hls.js copied in: the page loads it", true, true},
		{"hls.js missing: the page relies on native HLS", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := newHandler(Config{}, staticTree(t, tt.vendor), pagesFS)
			if err != nil {
				t.Fatal(err)
			}
			body := get(h, "GET", "/watch/x", nil).Body.String()
			if got := strings.Contains(body, `src="/static/vendor/hls.min.js?v=`); got != tt.wantTag {
				t.Errorf("page loads hls.js: %v, want %v", got, tt.wantTag)
			}
			if got := get(h, "GET", "/static/"+HLSJSPath, nil).Code; (got == 200) != tt.vendor {
				t.Errorf("GET /static/%s: %d", HLSJSPath, got)
			}
		})
	}
}

func TestHandlerRefusesPagesNamingMissingAssets(t *testing.T) {
	pages := fstest.MapFS{
		"pages/publish.html": {Data: []byte(`{{define "publish.html"}}<script src="{{.Asset "typo.js"}}"></script>{{end}}`)},
		"pages/watch.html":   {Data: []byte(`{{define "watch.html"}}ok{{end}}`)},
	}
	_, err := newHandler(Config{}, staticTree(t, false), pages)
	if !errors.Is(err, ErrBadAssets) || !strings.Contains(err.Error(), "typo.js") {
		t.Fatalf("err = %v, want ErrBadAssets naming typo.js", err)
	}
}

func TestStaticBodiesAreTheEmbeddedFiles(t *testing.T) {
	h := newTestHandler(t)
	want, err := fs.ReadFile(staticFS, "static/watch.js")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get(h, "GET", "/static/watch.js", nil).Body)
	if string(got) != string(want) {
		t.Fatal("served watch.js differs from the embedded file")
	}
}

// The page scripts are classic deferred scripts that read each other's
// globals when they run, so the watch page must load them in this order.
func TestWatchPageLoadsScriptsInDependencyOrder(t *testing.T) {
	body := get(newTestHandler(t), "GET", "/watch/x", nil).Body.String()
	var order []string
	for _, m := range regexp.MustCompile(`<script src="/static/([^"?]+)`).FindAllStringSubmatch(body, -1) {
		order = append(order, m[1])
	}
	got := strings.Join(order, " ")
	if want := "common.js playback.js whep.js watch.js"; !strings.HasSuffix(got, want) {
		t.Errorf("watch page loads %q, want it to end with %q", got, want)
	}
}
