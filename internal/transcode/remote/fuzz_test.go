package remote

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/castnet/castnet/internal/transcode"
)

// FuzzDecodeProfiles: an accepted ladder header holds only valid rungs.
func FuzzDecodeProfiles(f *testing.F) {
	good, _ := encodeProfiles(ladder)
	f.Add(good)
	f.Add("W10=")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := decodeProfiles(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsSource() && p.Validate() != nil {
				t.Fatalf("accepted invalid profile %+v", p)
			}
		}
	})
}

// FuzzReadRenditions: a node's answer yields exactly the requested
// renditions, each matching its hash, or ErrBadAnswer; never a panic.
func FuzzReadRenditions(f *testing.F) {
	var buf bytes.Buffer
	ct := "multipart/mixed; boundary=b"
	buf.WriteString("--b\r\nCastnet-Rendition: source\r\nCastnet-Size: 640x360\r\nCastnet-Sha256: " + digest([]byte("a")) +
		"\r\n\r\na\r\n--b\r\nCastnet-Rendition: 120p\r\nCastnet-Size: 160x90\r\nCastnet-Sha256: " + digest([]byte("b")) +
		"\r\n\r\nb\r\n--b--\r\n")
	f.Add(ct, buf.Bytes())
	f.Add("text/plain", []byte("hello"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		resp := &http.Response{Header: http.Header{"Content-Type": {contentType}}, Body: io.NopCloser(bytes.NewReader(body))}
		rends, err := ReadRenditions(resp.Header.Get("Content-Type"), resp.Body, ladder)
		if err != nil {
			return
		}
		if len(rends) != len(ladder) {
			t.Fatalf("%d renditions for %d requested", len(rends), len(ladder))
		}
		for _, r := range rends {
			if r.Width <= 0 || r.Height <= 0 || r.Width > transcode.MaxDimension {
				t.Fatalf("bad size %dx%d", r.Width, r.Height)
			}
		}
	})
}
