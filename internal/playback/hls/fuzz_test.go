package hls

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// servedPath is every path FuzzPathParse's store can answer 200 to, and
// awaitedPath those of the parts it holds: from the hinted one to the
// Advance Part Limit (six of 0.5 s), and the next segment's first ones.
var (
	servedPath  = regexp.MustCompile(`^/hls/s/(index\.m3u8|(source|240p)/index\.m3u8|source/[01]\.ts|240p/0\.ts|source/2\.[01]\.ts)$`)
	awaitedPath = regexp.MustCompile(`^/hls/s/source/(2\.[2-7]|3\.[0-5])\.ts$`)
)

// FuzzPathParse throws arbitrary request paths at the handler. Invariants:
// nothing panics; the only statuses are 200, 404 and 405 (never a redirect
// to a cleaned path), and 503 for a part the stream is about to have (the
// request gives up after a few milliseconds); a 200 comes only for a path
// of the served grammar and carries exactly the bytes of the file that
// path names inside the store, or for a live media playlist what the
// stream renders.
func FuzzPathParse(f *testing.F) {
	for _, p := range []string{
		"/hls/s/index.m3u8", "/hls/s/source/0.ts", "/hls/s/240p/1.ts", "/hls/s/../../secret",
		"/hls/s/source/%2e%2e/stream.json", "/hls/archive/s/x/index.m3u8", "/hls/s//index.m3u8",
		"/hls/s/source/00.ts", "/hls/s/source/\x00.ts", "/hls/s/source/index.m3u8/",
		"/hls/s/source/2.0.ts", "/hls/s/source/2.00.ts", "/hls/s/source/2.2.ts", "/hls/s/240p/2.0.ts",
		"/hls/s/source/3.0.ts", "/hls/s/source/2..ts", "/hls/s/source/2.0.0.ts", "/hls/s/source/.0.ts",
	} {
		f.Add(p)
	}
	s, data := newTestStore(f, nil)
	st, err := s.Open("s", []Variant{{Name: "source"}, {Name: "240p"}})
	if err != nil {
		f.Fatal(err)
	}
	mustAdd(f, st, 0, time.Second, parts(0, "source", "240p"))
	mustAdd(f, st, 1, time.Second, parts(1, "source"))
	for i := range 2 {
		mustAddPart(f, st, "source", 2, Part{Duration: 400 * time.Millisecond, Data: []byte{2, byte(i)}})
	}
	if err := os.WriteFile(filepath.Join(data, "secret"), []byte("secret"), 0o644); err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, p string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
		req.URL.Path, req.URL.RawPath = p, ""
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == 404, rec.Code == 405, rec.Code == 503 && awaitedPath.MatchString(p):
			return
		case rec.Code != 200:
			t.Fatalf("GET %q: status %d", p, rec.Code)
		case !servedPath.MatchString(p):
			t.Fatalf("GET %q served %d bytes", p, rec.Body.Len())
		}
		rel := p[len("/hls/s/"):]
		want := readFile(t, filepath.Join(st.dir, filepath.FromSlash(rel)))
		if name, ok := strings.CutSuffix(rel, "/index.m3u8"); ok {
			want = liveBody(st, name, directives{})
		}
		if !bytes.Equal(rec.Body.Bytes(), want) {
			t.Fatalf("GET %q: body is not the file it names", p)
		}
	})
}

// FuzzDirectives feeds parseDirectives arbitrary queries. Invariants:
// nothing panics; an accepted query names _HLS_part only with _HLS_msn,
// and writing the directives back gives a query that parses to the same.
func FuzzDirectives(f *testing.F) {
	for _, q := range []string{
		"", "_HLS_msn=10", "_HLS_msn=10&_HLS_part=3", "_HLS_part=3", "_HLS_msn=10&_HLS_skip=YES",
		"_HLS_skip=v2", "_HLS_msn=010", "_HLS_msn=-1", "_HLS_msn=1&_HLS_msn=2", "_HLS_msn=18446744073709551616",
		"token=abc&_HLS_msn=4", "_HLS_foo=1", "_HLS_msn=%31", "%zz", "_HLS_skip=yes", "a;b",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		d, err := parseDirectives(q)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%q: %v is not ErrBadRequest", q, err)
			}
			return
		}
		if d.hasPart && !d.hasMSN {
			t.Fatalf("%q: accepted _HLS_part without _HLS_msn", q)
		}
		again, err := parseDirectives(d.query())
		if err != nil || again != d {
			t.Fatalf("%q: %+v written back as %q reads %+v, %v", q, d, d.query(), again, err)
		}
	})
}

// FuzzManifest feeds ParseManifest arbitrary stream.json and journal bytes.
// Invariants: nothing panics; an accepted manifest names only valid streams
// and renditions, survives a write and re-read unchanged, and rebuilds a
// session whose playlists obey the target duration rule.
func FuzzManifest(f *testing.F) {
	valid := `{"version":1,"stream":"s","source":"source","started":"2026-03-01T12:00:00Z",` +
		`"variants":[{"name":"source","width":640,"height":360,"codecs":"avc1.64001f"},{"name":"240p"}],` +
		`"segments":[{"seq":0,"duration":2.002,"sizes":{"source":1000,"240p":100}}]}`
	journal := `{"seq":1,"duration":1.5,"sizes":{"source":900}}` + "\n" + `{"seq":3,"duration":4,"gap":true,"sizes":{"source":9}}` + "\n"
	f.Add([]byte(valid), []byte(journal))
	f.Add([]byte(valid), []byte(`{"seq":0,"duration":1,"sizes":{"source":1}}`+"\n"+`{"seq":2,"dur`))
	f.Add([]byte(`{"version":1,"stream":"../x","source":"source","variants":[{"name":"source"}]}`), []byte(nil))
	f.Add([]byte(`{"version":1,"stream":"s","source":"source","variants":[{"name":"source"}],"segments":[{"seq":0,"duration":1e300,"sizes":{"source":1}}]}`), []byte(nil))
	s, _ := newTestStore(f, nil)
	f.Fuzz(func(t *testing.T, manifest, journal []byte) {
		m, err := ParseManifest(manifest, journal)
		if err != nil {
			return
		}
		if !validStreamName(m.Stream) || !validRenditionName(m.Source) {
			t.Fatalf("accepted names %q %q", m.Stream, m.Source)
		}
		for _, r := range m.Segments {
			for name := range r.Sizes {
				if !validRenditionName(name) {
					t.Fatalf("accepted rendition %q", name)
				}
			}
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseManifest(out, nil)
		if err != nil {
			t.Fatalf("re-read of %s: %v", out, err)
		}
		if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the manifest:\n%s\n%s", out, out2)
		}
		checkRebuilt(t, s, m)
	})
}

// checkRebuilt rebuilds a session from m and checks its playlists.
func checkRebuilt(t *testing.T, s *Store, m *Manifest) {
	if m.Source != s.cfg.SourceRendition || len(m.Segments) == 0 {
		return
	}
	st := streamFromManifest(s, m)
	for _, v := range st.variants {
		for _, vod := range []bool{false, true} {
			p := st.mediaPlaylist(v.Name, vod)
			for _, e := range p.Entries {
				if roundSeconds(e.Duration) > p.TargetDuration {
					t.Fatalf("EXTINF %v above target %d", e.Duration, p.TargetDuration)
				}
			}
		}
	}
	if mv := renderMultivariant(st.streamInfs(), m.Source); !bytes.HasPrefix(mv, []byte("#EXTM3U\n")) {
		t.Fatalf("multivariant:\n%s", mv)
	}
}
