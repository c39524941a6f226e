package hls

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHandlerServesPlaylistsAndSegments(t *testing.T) {
	s, _ := newTestStore(t, nil)
	live, _ := s.Open("live", ladder)
	mustAdd(t, live, 0, 2*time.Second, parts(0, "source", "360p", "240p"))
	ended, _ := s.Open("ended", nil)
	mustAdd(t, ended, 0, 2*time.Second, parts(0, "source"))
	if err := ended.End(); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	tests := []struct {
		name, method, path, ctype, cache string
		body                             []byte
	}{
		{"live multivariant", "GET", "/hls/live/index.m3u8", playlistType, "no-cache", nil},
		{"live media playlist", "GET", "/hls/live/240p/index.m3u8", playlistType, "no-cache", nil},
		{"segment", "GET", "/hls/live/240p/0.ts", segmentType, "public, max-age=86400", parts(0, "240p")["240p"]},
		{"HEAD of a segment", "HEAD", "/hls/live/source/0.ts", segmentType, "public, max-age=86400", []byte{}},
		{"ended playlist", "GET", "/hls/ended/source/index.m3u8", playlistType, "no-cache", nil},
		{"ended segment", "GET", "/hls/ended/source/0.ts", segmentType, "public, max-age=86400", parts(0, "source")["source"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(h, tt.method, tt.path)
			got := body(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, got)
			}
			hd := resp.Header
			if hd.Get("Content-Type") != tt.ctype || hd.Get("Cache-Control") != tt.cache ||
				hd.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("headers: %v", hd)
			}
			if tt.body != nil && !bytes.Equal(got, tt.body) {
				t.Errorf("body: %d bytes, want %d", len(got), len(tt.body))
			}
			if tt.ctype == playlistType && !bytes.HasPrefix(got, []byte("#EXTM3U\n")) {
				t.Errorf("playlist body:\n%s", got)
			}
		})
	}
}

func TestHandlerCachePolicy(t *testing.T) {
	s, _ := newTestStore(t, func(c *Config) { c.EndedPlaylistMaxAge = time.Minute })
	old, _ := s.Open("s", nil)
	mustAdd(t, old, 0, 2*time.Second, parts(0, "source"))
	mustAdd(t, old, 1, 2*time.Second, parts(1, "source"))
	cur, _ := s.Open("s", nil) // archives the first session
	mustAdd(t, cur, 0, 2*time.Second, parts(0, "source"))
	mustAdd(t, cur, 2, 2*time.Second, parts(2, "source"))
	h := s.Handler()
	want := map[string]string{
		// 0.ts was a different segment in the earlier session: a browser
		// may hold that one, so this one must be revalidated.
		"/hls/s/source/0.ts": "no-cache",
		"/hls/s/source/2.ts": "public, max-age=86400",
		// The archive never changes.
		"/hls/archive/s/20260301T120000Z/index.m3u8":        "public, max-age=86400",
		"/hls/archive/s/20260301T120000Z/source/index.m3u8": "public, max-age=86400",
		"/hls/archive/s/20260301T120000Z/source/1.ts":       "public, max-age=86400",
	}
	for path, cache := range want {
		resp := get(h, "GET", path)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != cache {
			t.Errorf("%s: %d %q, want 200 %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"), cache)
		}
	}
	if err := cur.End(); err != nil {
		t.Fatal(err)
	}
	if got := get(h, "GET", "/hls/s/index.m3u8").Header.Get("Cache-Control"); got != "public, max-age=60" {
		t.Errorf("ended playlist with EndedPlaylistMaxAge: %q", got)
	}
}

func TestHandlerAnswers404ToAnythingElse(t *testing.T) {
	s, data := newTestStore(t, nil)
	st, _ := s.Open("s", []Variant{{Name: "source"}, {Name: "240p"}})
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source"))
	if _, err := s.Open("t", nil); err != nil { // known, but no segment yet
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, path := range []string{
		"/hls/../secret.txt",
		"/hls/s/../../secret.txt",
		"/hls/s/source/..%2f..%2f..%2fsecret.txt",
		"/hls/s/%2e%2e/%2e%2e/secret.txt",
		"/hls/s/source/%2e%2e",
		"/hls/..%2fsecret.txt/index.m3u8",
		"/hls/archive/s/..%2f..%2f/index.m3u8",
		"/hls/archive/..%2f..%2fhls/s/index.m3u8",
		"/hls/archive/s/x/../../../secret.txt",
		"/hls/s//source/index.m3u8",
		"/hls/s/source/./index.m3u8",
		"/hls/s/stream.json",
		"/hls/s/source/stream.json",
		"/hls/s/segments.jsonl/index.m3u8",
		"/hls/s/source/.tmp-1",
		"/hls/s/source/00.ts",
		"/hls/s/source/+0.ts",
		"/hls/s/source/0.ts.tmp",
		"/hls/s/source/18446744073709551616.ts",
		"/hls/s/Source/index.m3u8",
		"/hls/s/source%2f0.ts/index.m3u8",
		"/hls/s.x/index.m3u8",
		"/hls/" + strings.Repeat("a", 65) + "/index.m3u8",
		"/hls/s/index.m3u8/",
		"/hls/s/",
		"/hls/s",
		"/hls/unknown/index.m3u8",
		"/hls/s/360p/index.m3u8", // not a rendition of s
		"/hls/s/240p/0.ts",       // 240p fell back to the source for 0
		"/hls/s/source/1.ts",     // not stored yet
		"/hls/t/index.m3u8",      // no segment yet
		"/hls/archive/s/20260301T120000Z/index.m3u8",
		"/secret.txt",
	} {
		resp := get(h, "GET", path)
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s: no CORS header on the 404", path)
		}
	}
	if resp := get(h, "POST", "/hls/s/index.m3u8"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

// TestConcurrentAddSegmentAndReads is meant for -race: readers follow the
// playlists while segments arrive, and every segment a playlist names must
// already be fetchable.
func TestConcurrentAddSegmentAndReads(t *testing.T) {
	s, _ := newTestStore(t, nil)
	st, _ := s.Open("s", []Variant{{Name: "source"}, {Name: "240p"}})
	mustAdd(t, st, 0, time.Second, parts(0, "source", "240p"))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, rend := range []string{"source", "240p"} {
					if err := followOnce(srv.URL + "/hls/s/" + rend + "/"); err != "" {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for seq := uint64(1); seq < 40; seq++ {
		p := parts(seq, "source", "240p")
		if seq%5 == 0 {
			p = parts(seq, "source")
		}
		if err := st.AddSegment(seq, time.Second, p); err != nil {
			t.Error(err)
			break
		}
		_ = st.Stats()
	}
	if err := st.End(); err != nil {
		t.Error(err)
	}
	close(done)
	wg.Wait()
}

// followOnce fetches a media playlist and every segment it names; it
// returns a description of the first failure.
func followOnce(base string) string {
	resp, err := http.Get(base + "index.m3u8")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "playlist status " + resp.Status
	}
	sc := bufio.NewScanner(resp.Body)
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		if lines++; lines == 1 && line != "#EXTM3U" {
			return "partial playlist: " + line
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Resolve as a player does (RFC 8216 §4.1: relative to the playlist).
		u, err := resp.Request.URL.Parse(line)
		if err != nil {
			return err.Error()
		}
		seg, err := http.Head(u.String())
		if err != nil {
			return err.Error()
		}
		seg.Body.Close()
		if seg.StatusCode != 200 || seg.ContentLength <= 0 {
			return u.String() + ": " + seg.Status
		}
	}
	return ""
}
