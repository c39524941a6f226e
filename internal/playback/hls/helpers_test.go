package hls

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testClock is the fixed start of every test session.
var testClock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestStore builds a Store under a fresh DATA directory; edit adjusts
// the config before New.
func newTestStore(t testing.TB, edit func(*Config)) (*Store, string) {
	t.Helper()
	data := t.TempDir()
	cfg := Config{Dir: filepath.Join(data, "hls"), Now: func() time.Time { return testClock }}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, data
}

// reopen builds a second Store over the same directories, as a restarted
// node does.
func reopen(t *testing.T, data string) *Store {
	t.Helper()
	s, err := New(Config{Dir: filepath.Join(data, "hls"), Now: func() time.Time { return testClock.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// ladder is the variant list most tests use.
var ladder = []Variant{
	{Name: "source", Width: 1280, Height: 720, Codecs: "avc1.64001f,mp4a.40.2", FrameRate: 30},
	{Name: "360p", Width: 640, Height: 360, Bandwidth: 800_000, Codecs: "avc1.4d401e,mp4a.40.2", FrameRate: 30},
	{Name: "240p", Width: 426, Height: 240, Bandwidth: 400_000, Codecs: "avc1.42c015,mp4a.40.2", FrameRate: 29.97},
}

// partSize gives each rendition a distinct, fixed size so measured
// bandwidths are predictable.
var partSize = map[string]int{"source": 500_000, "720p": 250_000, "360p": 150_000, "240p": 50_000}

// parts makes fake segment bytes of seq for the named renditions. The bytes
// carry seq so a served file can be traced to its segment.
func parts(seq uint64, names ...string) map[string][]byte {
	m := make(map[string][]byte, len(names))
	for _, n := range names {
		size := partSize[n]
		if size == 0 {
			size = 1000
		}
		m[n] = bytes.Repeat([]byte{byte(seq), n[0]}, size/2)
	}
	return m
}

func mustAdd(t testing.TB, st *Stream, seq uint64, d time.Duration, p map[string][]byte) {
	t.Helper()
	if err := st.AddSegment(seq, d, p); err != nil {
		t.Fatalf("AddSegment(%d): %v", seq, err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readFile(t, path)
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after checking):\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// get runs one request through h and returns the recorded response.
func get(h http.Handler, method, target string) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func body(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newHTTPServer serves s on 127.0.0.1 for the test and returns its URL.
func newHTTPServer(t *testing.T, s *Store) string {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func mustAddPart(t testing.TB, st *Stream, rendition string, seq uint64, p Part) {
	t.Helper()
	if err := st.AddPart(rendition, seq, p); err != nil {
		t.Fatalf("AddPart(%s, %d): %v", rendition, seq, err)
	}
}

// liveBody is what the handler sends for rendition name's live playlist.
func liveBody(st *Stream, name string, d directives) []byte {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.liveMedia(name, d.skip).render()
}
