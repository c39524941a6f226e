// Package web serves castnet's two browser pages: the publisher at "/" (goes
// live over WHIP from a camera or a shared screen) and the player at
// "/watch/{stream}" (plays the live stream over WebRTC with WHEP, falling back
// to the stream's HLS ladder, which also plays recordings), plus their static assets
// under "/static/". Everything is embedded in the binary with go:embed; there
// is no build step besides copying hls.js into static/vendor/.
package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/castnet/castnet/internal/names"
)

// The pages are templates so that asset URLs carry a content hash (cache
// busting) and so the watch page names hls.js only when it was vendored.
//
//go:embed pages/*.html
var pagesFS embed.FS

// The whole directory is embedded (not static/vendor/hls.min.js by name) so
// the package still compiles when hls.js has not been copied in yet.
//
//go:embed static
var staticFS embed.FS

// ErrBadAssets is wrapped by Handler's error when the embedded pages or
// assets cannot be prepared: a template that does not parse, or an asset the
// pages name that does not exist.
var ErrBadAssets = errors.New("web: bad embedded assets")

// HLSJSPath is the path of hls.js inside the static directory. The Makefile
// copies node_modules/hls.js/dist/hls.min.js there; when it is missing the
// watch page falls back to the browser's native HLS.
const HLSJSPath = "vendor/hls.min.js"

// Config configures Handler.
type Config struct {
	// Logger receives one line at start-up about hls.js; nil discards.
	Logger *slog.Logger
}

// Handler returns the handler for the publisher page (GET /), the watch page
// (GET /watch/{stream}, the same HTML for every stream) and the static assets
// (GET /static/...). Any other path is 404 and paths with dot segments are 400,
// so a request can never climb out of the embedded tree.
func Handler(cfg Config) (http.Handler, error) {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAssets, err)
	}
	return newHandler(cfg, static, pagesFS)
}

// site is the prepared content: every response body is built once, at start-up.
type site struct {
	log     *slog.Logger
	assets  map[string]asset // by path under /static/
	publish asset
	watch   asset
}

// newHandler builds the handler from any static and pages trees, so tests can
// check both the with- and without-hls.js variants.
func newHandler(cfg Config, static, pages fs.FS) (http.Handler, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	assets, err := loadAssets(static)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAssets, err)
	}
	s := &site{log: log, assets: assets}
	if err := s.renderPages(pages); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAssets, err)
	}
	if _, ok := assets[HLSJSPath]; ok {
		log.Debug("web: serving vendored hls.js")
	} else {
		log.Warn("web: static/" + HLSJSPath + " missing; the watch page will use native HLS only (run make web)")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage(&s.publish))
	mux.HandleFunc("GET /watch/{stream}", s.serveWatch)
	mux.HandleFunc("GET /static/{path...}", s.serveStatic)
	return rejectDotSegments(mux), nil
}

// pageData is what the page templates see.
type pageData struct {
	HasHLSJS bool
	assets   map[string]asset
}

// Asset returns the URL of a static asset with its content hash as a query,
// so a browser never runs a stale script against a newer page. It fails when
// the asset does not exist, which turns a typo into a start-up error.
func (d pageData) Asset(name string) (string, error) {
	a, ok := d.assets[name]
	if !ok {
		return "", fmt.Errorf("page names missing asset %q", name)
	}
	return "/static/" + name + "?v=" + a.version, nil
}

// renderPages executes both page templates once.
func (s *site) renderPages(pages fs.FS) error {
	tmpl, err := template.ParseFS(pages, "pages/*.html")
	if err != nil {
		return err
	}
	_, hasHLS := s.assets[HLSJSPath]
	data := pageData{HasHLSJS: hasHLS, assets: s.assets}
	for name, dst := range map[string]*asset{"publish.html": &s.publish, "watch.html": &s.watch} {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, name, data); err != nil {
			return err
		}
		*dst = newAsset(buf.Bytes(), "text/html; charset=utf-8")
	}
	return nil
}

// serveWatch serves the watch page for syntactically valid stream names only;
// whether the stream exists is the page's business (it polls the API).
func (s *site) serveWatch(w http.ResponseWriter, r *http.Request) {
	if !names.Stream(r.PathValue("stream")) {
		http.Error(w, "404 not found: invalid stream name", http.StatusNotFound)
		return
	}
	s.servePage(&s.watch)(w, r)
}

// servePage serves a rendered page with a Content-Security-Policy that allows
// only this origin (blob: for hls.js's worker and media source).
func (s *site) servePage(a *asset) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		a.serve(w, r)
	}
}

// serveStatic serves one embedded asset; directories and unknown names are 404.
func (s *site) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets[r.PathValue("path")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	a.serve(w, r)
}

// contentSecurityPolicy keeps the pages to their own scripts and origin.
// WebRTC media is not governed by CSP; fetch to /whip, /whep and /api is 'self'.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; media-src 'self' blob:; worker-src 'self' blob:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// rejectDotSegments answers 400 to any path with a "." or ".." segment
// (RFC 3986 section 3.3) instead of letting the mux redirect to the cleaned
// path: the pages never produce such URLs, so one is a probe or a mistake.
func rejectDotSegments(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, seg := range strings.Split(r.URL.Path, "/") {
			if seg == "." || seg == ".." {
				http.Error(w, "400 bad request: dot segment in path", http.StatusBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
