package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNoSegmentURLServesTwoSegments: a publisher that comes back under
// the same name must not be served at the URLs of its first session.
// Every segment URL of session 1 is fetched, the name is published again,
// and each URL then answers the same bytes or 404: a cache holding session
// 1's segments for a day never serves them as session 2's.
func TestNoSegmentURLServesTwoSegments(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	n := startNode(t)
	first := publishAndFetch(t, n, "reuse")
	second := publishAndFetch(t, n, "reuse")
	for u := range second {
		if _, ok := first[u]; ok {
			t.Errorf("session 2 serves %s, a URL of session 1", u)
		}
	}
	for u, body := range first {
		code, now, _ := fetch(t, u)
		if code == http.StatusOK && !bytes.Equal(now, body) {
			t.Errorf("%s served %d bytes in session 1 and %d other bytes after the reconnect", u, len(body), len(now))
		}
	}
	t.Logf("session 1: %d segment URLs, session 2: %d", len(first), len(second))
}

// publishAndFetch publishes 6 s under name and returns every segment URL
// its playlists list, with the bytes each served; segments must be
// cacheable (their URLs are unique).
func publishAndFetch(t *testing.T, n *node, name string) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := publish(ctx, "-test-pattern", "-duration", "6s", n.URL+"/whip/"+name); err != nil {
		t.Fatalf("castnet publish: %v\n%s", err, out)
	}
	n.waitState(name, "ended", time.Minute)
	segs := map[string][]byte{}
	base := n.URL + "/hls/" + name + "/"
	for _, media := range playlistURIs(get(t, base+"index.m3u8")) {
		dir := base + media[:strings.LastIndex(media, "/")+1]
		for _, seg := range playlistURIs(get(t, base+media)) {
			code, body, cache := fetch(t, dir+seg)
			if code != http.StatusOK || !strings.Contains(cache, "max-age") {
				t.Fatalf("GET %s: %d, Cache-Control %q", dir+seg, code, cache)
			}
			segs[dir+seg] = body
		}
	}
	if len(segs) == 0 {
		t.Fatalf("session of %s lists no segments", name)
	}
	return segs
}

// playlistURIs are the URI lines of a playlist.
func playlistURIs(m3u8 string) []string {
	var out []string
	for _, l := range strings.Split(m3u8, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// fetch GETs url: status, body and Cache-Control.
func fetch(t *testing.T, url string) (int, []byte, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header.Get("Cache-Control")
}
