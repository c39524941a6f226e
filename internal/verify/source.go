package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// ErrPath means a custody path is not a plain relative path inside the
// stream directory.
var ErrPath = errors.New("custody: bad path")

// maxPathLen bounds a path named by a custody log.
const maxPathLen = 1024

// Source reads the files of one stream session's custody: custody.jsonl,
// the signed source segments and the renditions, by their slash-separated
// paths relative to the session's directory.
type Source interface {
	// Open opens a file. A path that is not relative, or climbs out of
	// the directory, is refused with an error wrapping ErrPath; a missing
	// file is an error wrapping fs.ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// String says where the files are, for reports.
	String() string
}

// checkPath accepts a slash-separated relative path: no leading '/', no
// "." or ".." element, no empty element, no '\\', ':' or NUL, at most
// 1024 bytes.
func checkPath(name string) error {
	switch {
	case name == "" || name == ".":
		return fmt.Errorf("%w: empty", ErrPath)
	case len(name) > maxPathLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrPath, len(name), maxPathLen)
	case strings.ContainsAny(name, "\\:\x00"):
		return fmt.Errorf("%w: %q has '\\', ':' or NUL", ErrPath, name)
	case !fs.ValidPath(name):
		return fmt.Errorf("%w: %q is not a plain relative path", ErrPath, name)
	}
	return nil
}

// DirSource reads a stream session's directory (castnet-data/hls/{stream}
// or an archived session). Files are opened through an os.Root, so no
// path, symbolic links included, reaches outside dir.
func DirSource(dir string) Source { return dirSource(dir) }

type dirSource string

func (d dirSource) String() string { return string(d) }

func (d dirSource) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkPath(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(string(d))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return f, nil
}

// HTTPSource reads a node's custody over HTTP, from a base URL like
// http://127.0.0.1:8935/custody/cam/ (trust.CustodyHandler serves it). A nil
// client is http.DefaultClient.
func HTTPSource(base string, c *http.Client) (Source, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("custody URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("custody URL %q: want http(s)://HOST/custody/STREAM/", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("custody URL %q: no query or fragment, please", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	if c == nil {
		c = http.DefaultClient
	}
	return &httpSource{base: u, c: c}, nil
}

type httpSource struct {
	base *url.URL
	c    *http.Client
}

func (h *httpSource) String() string { return h.base.String() }

func (h *httpSource) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkPath(name); err != nil {
		return nil, err
	}
	// Each element is escaped on its own, so nothing in a name changes
	// the path's structure.
	elems := strings.Split(name, "/")
	for i, e := range elems {
		elems[i] = url.PathEscape(e)
	}
	ref, err := url.Parse(strings.Join(elems, "/"))
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrPath, name, err)
	}
	u := h.base.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, nil
	case http.StatusNotFound, http.StatusGone:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s: %w", name, resp.Status, fs.ErrNotExist)
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: GET %s: %s", name, u, resp.Status)
	}
}

// readAll reads a whole file of src, refusing one over limit bytes.
func readAll(ctx context.Context, src Source, name string, limit int64) ([]byte, error) {
	rc, err := src.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d MiB", name, limit>>20)
	}
	return b, nil
}
