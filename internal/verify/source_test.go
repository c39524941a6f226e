package verify

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/castnet/castnet/internal/trust"
	"github.com/castnet/castnet/internal/verify/verifytest"
)

func TestSourcesRefuseTraversal(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cam")
	verifytest.Write(t, filepath.Join(dir, trust.CustodyFile), []byte("{}\n"))
	verifytest.Write(t, filepath.Join(dir, "180p", "1.ts"), []byte("ts"))
	verifytest.Write(t, filepath.Join(dir, "stream.json"), []byte("{}"))
	verifytest.Write(t, filepath.Join(dir, "segments.jsonl"), []byte("{}\n"))
	verifytest.Write(t, filepath.Join(root, "secret", "1.ts"), []byte("secret"))
	verifytest.Write(t, filepath.Join(root, "secret.jsonl"), []byte("secret"))
	if err := os.Symlink(filepath.Join(root, "secret"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "secret.jsonl"), filepath.Join(dir, "link.jsonl")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(trust.CustodyHandler(func(s string) (string, bool) { return dir, s == "cam" }))
	defer srv.Close()
	hsrc, err := HTTPSource(srv.URL+"/custody/cam/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, src := range []Source{DirSource(dir), hsrc} {
		for _, name := range []string{"../secret/1.ts", "/etc/passwd", "180p/../../secret/1.ts", "./custody.jsonl",
			"180p//1.ts", "180p\\1.ts", "", ".", "..", "c:/x", "a/\x00"} {
			if rc, err := src.Open(ctx, name); !errors.Is(err, ErrPath) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("%s: Open(%q) = %v, want ErrPath", src, name, err)
			}
		}
		// A symbolic link out of the directory is refused too (as
		// missing over HTTP, where the handler 404s it).
		if rc, err := src.Open(ctx, "escape/1.ts"); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			t.Errorf("%s: read %q through a link out of the directory", src, b)
		}
		rc, err := src.Open(ctx, "180p/1.ts")
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		rc.Close()
		if _, err := src.Open(ctx, "180p/2.ts"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: missing file: %v", src, err)
		}
	}

	h := trust.CustodyHandler(func(s string) (string, bool) { return dir, s == "cam" })
	for _, p := range []string{
		"/custody/cam/../secret/1.ts", "/custody/cam/%2e%2e/secret/1.ts", "/custody/cam/180p%2F1.ts",
		"/custody/cam/escape/1.ts", "/custody/cam/link.jsonl", "/custody/cam/180p/01.ts", "/custody/cam/180p/1.ts.tmp",
		"/custody/cam/180p/index.m3u8", "/custody/cam/a/b/1.ts", "/custody/cam/180p/stream.json", "/custody/cam/index.m3u8", "/custody/cam/", "/custody/cam", "/custody/",
		"/custody/other/custody.jsonl", "/custody/../cam/custody.jsonl", "/custody/cam/custody.jsonl/",
		"/custody/cam/Bad/1.ts", "/custody/cam/180p/-1.ts", "/custody/cam/180p/99999999999999999999999.ts",
		"/custody/c.m/custody.jsonl", "/other/cam/custody.jsonl", "/custody/cam/custody.d/../custody.jsonl",
	} {
		req := httptest.NewRequest(http.MethodGet, p, nil) // as sent: no dot segments removed
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", p, w.Code, w.Body.String())
		}
	}
	for _, c := range []struct{ method, path, ctype string }{
		{http.MethodGet, "/custody/cam/custody.jsonl", "application/x-ndjson"},
		{http.MethodHead, "/custody/cam/custody.jsonl", "application/x-ndjson"},
		{http.MethodGet, "/custody/cam/180p/1.ts", "video/mp2t"},
		{http.MethodGet, "/custody/cam/stream.json", "application/json"},
		{http.MethodGet, "/custody/cam/segments.jsonl", "application/x-ndjson"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != c.ctype {
			t.Errorf("%s %s: %d %q", c.method, c.path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	verifytest.Write(t, filepath.Join(dir, trust.SourceDir, "1.ts"), []byte("src"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/custody/cam/"+trust.SourceDir+"/1.ts", nil))
	if w.Code != http.StatusOK || w.Body.String() != "src" {
		t.Errorf("signed source: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/custody/cam/custody.jsonl", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

func TestHTTPSourceURL(t *testing.T) {
	for _, bad := range []string{"ftp://x/custody/cam/", "http:///custody/cam/", "http://x/custody/cam/?a=1", "::"} {
		if _, err := HTTPSource(bad, nil); err == nil {
			t.Errorf("HTTPSource(%q) accepted", bad)
		}
	}
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		w.Write([]byte("x"))
	}))
	defer srv.Close()
	src := must(HTTPSource(srv.URL+"/custody/cam", nil))
	for _, name := range []string{trust.CustodyFile, "custody.d/3.ts", "a b/1.ts", "q?x/1.ts"} {
		rc, err := src.Open(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	want := []string{"/custody/cam/custody.jsonl", "/custody/cam/custody.d/3.ts", "/custody/cam/a%20b/1.ts", "/custody/cam/q%3Fx/1.ts"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths %q, want %q", got, want)
	}
}
