package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// asset is one response body prepared at start-up.
type asset struct {
	body        []byte
	contentType string
	version     string // short content hash, used in asset URLs
	etag        string // strong validator (RFC 9110 section 8.8.3)
}

// contentTypes lists the asset types the static tree may serve. Setting them
// here rather than through mime.TypeByExtension keeps responses independent
// of the host's /etc/mime.types; files of any other type (the vendor README)
// are not served at all.
var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	v := hex.EncodeToString(sum[:6])
	return asset{body: body, contentType: contentType, version: v, etag: `"` + v + `"`}
}

// loadAssets reads every servable file of the static tree into memory; the
// tree is small and embedded, so this costs nothing and makes ETags exact.
func loadAssets(static fs.FS) (map[string]asset, error) {
	assets := map[string]asset{}
	err := fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil
		}
		body, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		assets[name] = newAsset(body, ct)
		return nil
	})
	return assets, err
}

// serve writes the asset. Browsers revalidate every time (no-cache) and get a
// 304 while the ETag matches; the hashed URLs in the pages make stale copies
// impossible even for caches that ignore that.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
