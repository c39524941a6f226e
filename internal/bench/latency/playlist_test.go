package latency

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParsePlaylist(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		variants []string
		segments []string
		err      bool
	}{
		{name: "multivariant lists each variant's URI",
			in:       "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"a,b\"\nsource/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n480p/index.m3u8\n",
			variants: []string{"source/index.m3u8", "480p/index.m3u8"}},
		{name: "media playlist lists segments, tags between EXTINF and URI allowed",
			in:       "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n0.ts\n#EXTINF:2.000,\n#EXT-X-DISCONTINUITY\n../source/1.ts\n#EXT-X-ENDLIST\n",
			segments: []string{"0.ts", "../source/1.ts"}},
		{name: "CRLF and blank lines are tolerated",
			in: "#EXTM3U\r\n\r\n#EXTINF:2,\r\n7.ts\r\n", segments: []string{"7.ts"}},
		{name: "a live playlist before its first segment is empty, not an error",
			in: "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"},
		{name: "without #EXTM3U it is not a playlist", in: "#EXTINF:2,\n0.ts\n", err: true},
		{name: "an HTML error page is not a playlist", in: "<html>404</html>", err: true},
		{name: "empty input is not a playlist", in: "", err: true},
		{name: "a URI without its tag is refused", in: "#EXTM3U\n0.ts\n", err: true},
		{name: "a tag announces one URI only", in: "#EXTM3U\n#EXTINF:2,\n0.ts\n1.ts\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePlaylist([]byte(tc.in))
			if tc.err {
				if !errors.Is(err, ErrPlaylist) {
					t.Fatalf("want ErrPlaylist, got %v (%+v)", err, p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Variants, tc.variants) || !slices.Equal(p.Segments, tc.segments) {
				t.Fatalf("got variants %q segments %q, want %q %q", p.Variants, p.Segments, tc.variants, tc.segments)
			}
		})
	}
}

// TestParsePlaylistReadsTheNodesOwnPlaylists parses the playlists
// internal/playback/hls renders, its golden files, so that a change of
// format there is caught here.
func TestParsePlaylistReadsTheNodesOwnPlaylists(t *testing.T) {
	golden, err := filepath.Glob("../../playback/hls/testdata/*.m3u8")
	if err != nil || len(golden) == 0 {
		t.Fatalf("no golden playlists found: %v", err)
	}
	for _, path := range golden {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := parsePlaylist(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		uris := bytes.Count(b, []byte("#EXTINF:")) + bytes.Count(b, []byte("#EXT-X-STREAM-INF:"))
		if got := len(p.Variants) + len(p.Segments); got != uris || got == 0 {
			t.Fatalf("%s: %d URIs, want %d", path, got, uris)
		}
	}
}

func TestIsTS(t *testing.T) {
	pkt := func(n int) []byte {
		b := make([]byte, n*tsPacket)
		for i := 0; i < len(b); i += tsPacket {
			b[i] = tsSync
		}
		return b
	}
	broken := pkt(3)
	broken[2*tsPacket] = 0
	for _, tc := range []struct {
		name string
		in   []byte
		want bool
	}{
		{"whole packets with sync bytes", pkt(3), true},
		{"nothing", nil, false},
		{"a partial packet", pkt(2)[:300], false},
		{"a packet without its sync byte", broken, false},
		{"a playlist", []byte(strings.Repeat("#EXTM3U\n", 47)), false},
	} {
		if got := isTS(tc.in); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzParsePlaylist(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nsource/index.m3u8\n"))
	f.Add([]byte("#EXTM3U\n#EXTINF:2.000,\n0.ts\n#EXT-X-ENDLIST\n"))
	f.Add([]byte("#EXTM3U\r\n#EXTINF:2,\r\n\r\n../source/1.ts\r\n"))
	f.Add([]byte("#EXTM3U\n0.ts"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePlaylist(b)
		if err != nil {
			if !errors.Is(err, ErrPlaylist) {
				t.Fatalf("error not wrapping ErrPlaylist: %v", err)
			}
			return
		}
		if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("#EXTM3U")) {
			t.Fatalf("accepted a playlist not starting with #EXTM3U: %q", b)
		}
		lines := bytes.Count(b, []byte("\n")) + 1
		if n := len(p.Variants) + len(p.Segments); 2*n > lines {
			t.Fatalf("%d URIs from %d lines: each needs its own tag line", n, lines)
		}
		for _, u := range slices.Concat(p.Variants, p.Segments) {
			if u == "" || strings.HasPrefix(u, "#") || strings.ContainsAny(u, "\r\n") || strings.TrimSpace(u) != u {
				t.Fatalf("bad URI %q from %q", u, b)
			}
		}
	})
}
