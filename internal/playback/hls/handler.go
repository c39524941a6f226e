package hls

import (
	"bytes"
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
//	/hls/{stream}/{rendition}/{seq}.{i}.ts               partial segment (LL-HLS)
//	/hls/archive/{stream}/{session}/index.m3u8           archived session
//	/hls/archive/{stream}/{session}/{rendition}/{file}   its playlists and segments
//
// Every path component is checked against its alphabet before it touches
// the file system, and anything else is 404, so no request can name a file
// outside the store. Live playlists are sent with "no-cache"; see Config for
// the other Cache-Control choices.
//
// A live media playlist is rendered from memory with the Low-Latency HLS
// tags and answers the Delivery Directives of draft-pantos-hls-rfc8216bis
// §6.2.5 (blocking reload, delta updates); a part named by a preload hint
// is held until it exists. Ended and archived sessions are served from
// their files.
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
		case errors.Is(err, ErrBadRequest):
			refuse(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, ErrUnavailable):
			// A blocking request that timed out, or whose client left
			// (then nobody reads this). §6.2.5.2: 503.
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusServiceUnavailable, "not available yet")
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
	refuse(w, http.StatusNotFound, "404 page not found")
}

// refuse answers an error that no cache may keep.
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, msg, status)
}

// serveView is what the handler needs to know of a session, read under its
// lock.
type serveView struct {
	name        string // the stream's directory, relative to Config.Dir
	ended       bool
	firstUnique uint64
	known       bool // the rendition asked for belongs to the session
}

func (s *Store) view(stream, rendition string) (serveView, *Stream, error) {
	if !validStreamName(stream) {
		return serveView{}, nil, ErrNotFound
	}
	st, ok := s.Stream(stream)
	if !ok {
		return serveView{}, nil, fmt.Errorf("%w: stream %q", ErrNotFound, stream)
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	_, known := st.stats[rendition]
	return serveView{name: st.name, ended: st.state != stateLive, firstUnique: st.firstUnique, known: known}, st, nil
}

func (s *Store) serveMultivariant(w http.ResponseWriter, r *http.Request) error {
	v, _, err := s.view(r.PathValue("stream"), "")
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
	v, st, err := s.view(r.PathValue("stream"), rendition)
	if err != nil {
		return err
	}
	if !v.known {
		return fmt.Errorf("%w: rendition %q", ErrNotFound, rendition)
	}
	if file == playlistFile {
		return s.serveMediaPlaylist(w, r, st, filepath.Join(v.name, rendition, file), rendition)
	}
	if seq, i, ok := parsePartFile(file); ok {
		if err := st.awaitPart(r.Context(), rendition, seq, i); err != nil {
			return err
		}
		return serveFile(w, r, s.cfg.Dir, filepath.Join(v.name, rendition, file), segmentType, s.segmentCache(seq, v))
	}
	seq, ok := parseSegmentFile(file)
	if !ok {
		return ErrNotFound
	}
	return serveFile(w, r, s.cfg.Dir, filepath.Join(v.name, rendition, file), segmentType, s.segmentCache(seq, v))
}

// segmentCache is the Cache-Control of a segment or part of segment seq:
// long when its URL is unique to the session.
func (s *Store) segmentCache(seq uint64, v serveView) string {
	if seq >= v.firstUnique {
		return maxAge(s.cfg.SegmentMaxAge)
	}
	return "no-cache"
}

// serveMediaPlaylist answers a media playlist: a live one from memory,
// after blocking as its directives ask; an ended one from its file.
func (s *Store) serveMediaPlaylist(w http.ResponseWriter, r *http.Request, st *Stream, file, rendition string) error {
	d, err := parseDirectives(r.URL.RawQuery)
	if err != nil {
		return err
	}
	body, err := st.livePlaylist(r.Context(), rendition, d)
	if err != nil {
		return err
	}
	if body == nil {
		return serveFile(w, r, s.cfg.Dir, file, playlistType, s.playlistCache(st.Stats().Ended))
	}
	w.Header().Set("Content-Type", playlistType)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	return nil
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
		// Archived sessions were ended, which removed their parts.
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
