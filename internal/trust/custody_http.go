package trust

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/castnet/castnet/internal/names"
)

// Content types of the custody files.
const (
	custodyLogType = "application/x-ndjson"
	segmentTSType  = "video/mp2t"
)

// The session's manifest and journal (internal/playback/hls, which this
// package does not import): the segments its playlists list.
const (
	manifestFile = "stream.json"
	journalFile  = "segments.jsonl"
)

var manifestTypes = map[string]string{manifestFile: "application/json", journalFile: custodyLogType}

// CustodyPrefix is the path CustodyHandler serves under.
const CustodyPrefix = "/custody/"

// CustodyHandler serves stream sessions' custody read-only, for `castnet
// verify http://HOST/custody/STREAM/` (GET and HEAD; other methods get
// 405):
//
//	/custody/{stream}/custody.jsonl         the log (application/x-ndjson)
//	/custody/{stream}/stream.json           the segments the playlists list,
//	/custody/{stream}/segments.jsonl        and the latest ones (hls's manifest)
//	/custody/{stream}/custody.d/{seq}.ts    a signed source segment (video/mp2t)
//	/custody/{stream}/{rendition}/{seq}.ts  a rendition (video/mp2t)
//
// dirOf maps a stream name ([A-Za-z0-9_-]{1,64}) to its session directory.
// Every path element is checked against its alphabet (rendition names
// [a-z0-9_-]{1,64}, seq canonical decimal) before the file system is
// touched, and files are opened through an os.Root, so nothing outside the
// session directory is served; anything else is 404. Mount it on a mux at
// CustodyPrefix, without stripping the prefix.
func CustodyHandler(dirOf func(stream string) (string, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		stream, name, ctype, ok := custodyPath(r.URL.EscapedPath())
		if !ok {
			custodyNotFound(w)
			return
		}
		dir, ok := dirOf(stream)
		if !ok || dir == "" {
			custodyNotFound(w)
			return
		}
		if err := serveCustodyFile(w, r, dir, name, ctype); err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRegular) {
				custodyNotFound(w)
				return
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	})
}

// custodyPath splits /custody/{stream}/{file} into the stream, the file's
// path in its directory and its content type, when the path is one the
// handler serves. It reads the escaped path: no name served needs an
// escape, so one (%2F, %2e) means the path is not served.
func custodyPath(p string) (stream, name, ctype string, ok bool) {
	rest, found := strings.CutPrefix(p, CustodyPrefix)
	if !found {
		return "", "", "", false
	}
	parts := strings.Split(rest, "/")
	if !validStream(parts[0]) {
		return "", "", "", false
	}
	switch {
	case len(parts) == 2 && parts[1] == CustodyFile:
		return parts[0], CustodyFile, custodyLogType, true
	case len(parts) == 2 && (parts[1] == manifestFile || parts[1] == journalFile):
		// What the playlists list, for verify to compare with the log.
		return parts[0], parts[1], manifestTypes[parts[1]], true
	case len(parts) == 3 && (parts[1] == SourceDir || names.Rendition(parts[1])) && validSegmentFile(parts[2]):
		return parts[0], parts[1] + "/" + parts[2], segmentTSType, true
	}
	return "", "", "", false
}

// validStream accepts a stream name (names.Stream).
func validStream(s string) bool { return names.Stream(s) }

// validSegmentFile accepts "{seq}.ts" with seq in canonical decimal.
func validSegmentFile(s string) bool {
	digits, ok := strings.CutSuffix(s, ".ts")
	if !ok || digits == "" || len(digits) > 20 {
		return false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return err == nil && strconv.FormatUint(seq, 10) == digits
}

var errNotRegular = errors.New("not a regular file")

// serveCustodyFile sends a regular file of dir; http.ServeContent adds
// Last-Modified, conditional requests, ranges and HEAD.
func serveCustodyFile(w http.ResponseWriter, r *http.Request, dir, name, ctype string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			// Escapes through symbolic links, say: not served.
			return errNotRegular
		}
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return errNotRegular
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*")
	// The log grows while the stream is live, and a session's files are
	// replaced when the stream name is published again.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", info.ModTime(), f)
	return nil
}

func custodyNotFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "404 page not found", http.StatusNotFound)
}
