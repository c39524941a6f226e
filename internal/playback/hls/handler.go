package hls

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Content types of RFC 8216 §4 and of MPEG-TS segments.
const (
	playlistType = "application/vnd.apple.mpegurl"
	segmentType  = "video/mp2t"
)

// Handler serves the store over HTTP (GET and HEAD; other methods get 405):
//
//	/hls/{stream}/index.m3u8                             multivariant playlist
//	/hls/{stream}/{rendition}/index.m3u8                 media playlist
//	/hls/{stream}/{rendition}/{seq}.ts                   segment
//	/hls/archive/{stream}/{session}/index.m3u8           archived session
//	/hls/archive/{stream}/{session}/{rendition}/{file}   its playlists and segments
//
// Every path component is checked against its alphabet before it touches
// the file system, and anything else is 404, so no request can name a file
// outside the store. Live playlists are sent with "no-cache"; see Config for
// the other Cache-Control choices.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hls/{stream}/index.m3u8", s.handle(s.serveMultivariant))
	mux.HandleFunc("GET /hls/{stream}/{rendition}/{file}", s.handle(s.serveRendition))
	mux.HandleFunc("GET /hls/archive/{stream}/{session}/index.m3u8", s.handle(s.serveArchive))
	mux.HandleFunc("GET /hls/archive/{stream}/{session}/{rendition}/{file}", s.handle(s.serveArchive))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		// ServeMux answers an unclean path ("..", "//", no leading '/')
		// with a redirect to its cleaned form; nothing here is reached that
		// way, so say 404.
		if p := r.URL.Path; !strings.HasPrefix(p, "/") || path.Clean(p) != p {
			notFound(w)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// handle maps a handler's error onto the response, in this one place.
func (s *Store) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		switch {
		case err == nil:
		case errors.Is(err, ErrNotFound), errors.Is(err, fs.ErrNotExist):
			notFound(w)
		default:
			s.log.Error("hls: serving", "path", r.URL.Path, "err", err)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}
}

func notFound(w http.ResponseWriter) {
	// A segment or playlist missing now may exist in a second; keep caches
	// from remembering the 404.
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// serveView is what the handler needs to know of a session, read under its
// lock.
type serveView struct {
	name        string // the stream's directory, relative to Config.Dir
	ended       bool
	firstUnique uint64
	known       bool // the rendition asked for belongs to the session
}

func (s *Store) view(stream, rendition string) (serveView, error) {
	if !validStreamName(stream) {
		return serveView{}, ErrNotFound
	}
	st, ok := s.Stream(stream)
	if !ok {
		return serveView{}, fmt.Errorf("%w: stream %q", ErrNotFound, stream)
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	_, known := st.stats[rendition]
	return serveView{name: st.name, ended: st.state != stateLive, firstUnique: st.firstUnique, known: known}, nil
}

func (s *Store) serveMultivariant(w http.ResponseWriter, r *http.Request) error {
	v, err := s.view(r.PathValue("stream"), "")
	if err != nil {
		return err
	}
	return serveFile(w, r, s.cfg.Dir, filepath.Join(v.name, playlistFile), playlistType, s.playlistCache(v.ended))
}

func (s *Store) serveRendition(w http.ResponseWriter, r *http.Request) error {
	rendition, file := r.PathValue("rendition"), r.PathValue("file")
	if !validRenditionName(rendition) {
		return ErrNotFound
	}
	v, err := s.view(r.PathValue("stream"), rendition)
	if err != nil {
		return err
	}
	if !v.known {
		return fmt.Errorf("%w: rendition %q", ErrNotFound, rendition)
	}
	if file == playlistFile {
		return serveFile(w, r, s.cfg.Dir, filepath.Join(v.name, rendition, file), playlistType, s.playlistCache(v.ended))
	}
	seq, ok := parseSegmentFile(file)
	if !ok {
		return ErrNotFound
	}
	cache := "no-cache"
	if seq >= v.firstUnique {
		cache = maxAge(s.cfg.SegmentMaxAge)
	}
	return serveFile(w, r, s.cfg.Dir, filepath.Join(v.name, rendition, file), segmentType, cache)
}

// serveArchive serves a session moved aside by Open. It never changes
// again, so all of it is cached for SegmentMaxAge.
func (s *Store) serveArchive(w http.ResponseWriter, r *http.Request) error {
	stream, session := r.PathValue("stream"), r.PathValue("session")
	if !validStreamName(stream) || !validStreamName(session) {
		return ErrNotFound
	}
	dir := filepath.Join(stream, session)
	rendition, file := r.PathValue("rendition"), r.PathValue("file")
	if rendition == "" {
		return serveFile(w, r, s.cfg.ArchiveDir, filepath.Join(dir, playlistFile), playlistType, maxAge(s.cfg.SegmentMaxAge))
	}
	if !validRenditionName(rendition) {
		return ErrNotFound
	}
	ctype := playlistType
	if file != playlistFile {
		if _, ok := parseSegmentFile(file); !ok {
			return ErrNotFound
		}
		ctype = segmentType
	}
	return serveFile(w, r, s.cfg.ArchiveDir, filepath.Join(dir, rendition, file), ctype, maxAge(s.cfg.SegmentMaxAge))
}

func (s *Store) playlistCache(ended bool) string {
	if ended && s.cfg.EndedPlaylistMaxAge > 0 {
		return maxAge(s.cfg.EndedPlaylistMaxAge)
	}
	return "no-cache"
}

func maxAge(d time.Duration) string {
	return "public, max-age=" + strconv.FormatInt(int64(d/time.Second), 10)
}

// serveFile sends the regular file name, relative to base, with its type
// and caching policy; http.ServeContent adds Last-Modified, conditional
// requests, ranges and HEAD. The file is opened through an os.Root at
// base, so no symlink or ".." leads outside it (custody reads the same
// tree the same way).
func serveFile(w http.ResponseWriter, r *http.Request, base, name, ctype, cache string) error {
	root, err := os.OpenRoot(base)
	if err != nil {
		return err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return ErrNotFound
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", cache)
	http.ServeContent(w, r, "", info.ModTime(), f)
	return nil
}
