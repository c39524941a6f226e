package web

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzHandlerPath feeds request paths from the outside world to the handler:
// it must never panic, never answer 200 for a path with a dot segment, and
// answer 200 only with the publisher page, the one watch page, or an asset.
func FuzzHandlerPath(f *testing.F) {
	for _, seed := range []string{
		"/", "/watch/x", "/watch/../", "/static/app.css", "/static/../web.go", "/static/vendor/",
		"/watch/%2e%2e", "//", "/watch//x", "/static/./common.js", "/watch/" + strings.Repeat("a", 65),
	} {
		f.Add(seed)
	}
	h, err := Handler(Config{})
	if err != nil {
		f.Fatal(err)
	}
	watch := get(h, "GET", "/watch/x", nil).Body.String()
	publish := get(h, "GET", "/", nil).Body.String()
	f.Fuzz(func(t *testing.T, path string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		rec := get(h, "GET", path, nil)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
			return
		default:
			t.Fatalf("GET %q: unexpected status %d", path, rec.Code)
		}
		for _, seg := range strings.Split(path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("GET %q: 200 for a path with a dot segment", path)
			}
		}
		body := rec.Body.String()
		switch {
		case path == "/":
			if body != publish {
				t.Fatalf("GET /: body differs from the publisher page")
			}
		case strings.HasPrefix(path, "/watch/"):
			if body != watch || !streamNameRE.MatchString(strings.TrimPrefix(path, "/watch/")) {
				t.Fatalf("GET %q: 200 but not the watch page of a valid name", path)
			}
		case strings.HasPrefix(path, "/static/"):
			if !isAssetType(rec.Header().Get("Content-Type")) || rec.Header().Get("ETag") == "" {
				t.Fatalf("GET %q: 200 but not an asset (Content-Type %q)", path, rec.Header().Get("Content-Type"))
			}
		default:
			t.Fatalf("GET %q: 200 outside the page and asset routes", path)
		}
	})
}

func isAssetType(ct string) bool {
	for _, v := range contentTypes {
		if v == ct {
			return true
		}
	}
	return false
}
