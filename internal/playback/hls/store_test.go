package hls

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAddSegmentRejects(t *testing.T) {
	tests := []struct {
		name  string
		seq   uint64
		d     time.Duration
		parts map[string][]byte
		want  error
	}{
		{"a repeated segment number", 1, 2 * time.Second, parts(1, "source"), ErrSeqOrder},
		{"an earlier segment number", 0, 2 * time.Second, parts(0, "source"), ErrSeqOrder},
		{"a segment without the source", 2, 2 * time.Second, parts(2, "240p"), ErrNoSource},
		{"a rendition that is not a variant", 2, 2 * time.Second, parts(2, "source", "720p"), ErrUnknownRendition},
		{"a zero duration", 2, 0, parts(2, "source"), ErrInvalidSegment},
		{"an hour-long segment", 2, time.Hour, parts(2, "source"), ErrInvalidSegment},
		{"empty bytes", 2, 2 * time.Second, map[string][]byte{"source": {1}, "240p": {}}, ErrInvalidSegment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t, nil)
			st, _ := s.Open("s", []Variant{{Name: "source"}, {Name: "240p"}})
			mustAdd(t, st, 1, 2*time.Second, parts(1, "source", "240p"))
			before := readFile(t, filepath.Join(st.dir, "240p", "index.m3u8"))
			if err := st.AddSegment(tt.seq, tt.d, tt.parts); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if after := readFile(t, filepath.Join(st.dir, "240p", "index.m3u8")); !bytes.Equal(before, after) {
				t.Errorf("a rejected segment changed the playlist:\n%s", after)
			}
		})
	}
}

func TestOpenRejectsBadNamesAndVariants(t *testing.T) {
	s, _ := newTestStore(t, nil)
	tests := []struct {
		name     string
		stream   string
		variants []Variant
		want     error
	}{
		{"a dot in the stream name", "a.b", nil, ErrInvalidName},
		{"an empty stream name", "", nil, ErrInvalidName},
		{"a 65-character stream name", strings.Repeat("a", 65), nil, ErrInvalidName},
		{"an upper-case rendition", "s", []Variant{{Name: "HD"}}, ErrInvalidName},
		{"a duplicate rendition", "s", []Variant{{Name: "hd"}, {Name: "hd"}}, ErrInvalidVariant},
		{"a quote in CODECS", "s", []Variant{{Name: "hd", Codecs: `avc1"`}}, ErrInvalidVariant},
		{"a negative bandwidth", "s", []Variant{{Name: "hd", Bandwidth: -1}}, ErrInvalidVariant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Open(tt.stream, tt.variants); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEndIsIdempotentAndRefusesSegments(t *testing.T) {
	s, _ := newTestStore(t, nil)
	st, _ := s.Open("s", nil)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source"))
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	first := readFile(t, filepath.Join(st.dir, "source", "index.m3u8"))
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	if again := readFile(t, filepath.Join(st.dir, "source", "index.m3u8")); !bytes.Equal(first, again) {
		t.Errorf("second End changed the playlist")
	}
	if !bytes.HasSuffix(first, []byte("#EXT-X-ENDLIST\n")) {
		t.Errorf("ended playlist:\n%s", first)
	}
	if err := st.AddSegment(1, time.Second, parts(1, "source")); !errors.Is(err, ErrEnded) {
		t.Errorf("AddSegment after End: %v, want ErrEnded", err)
	}
}

func TestSetVariantsAddsARenditionThatFallsBackForEarlierSegments(t *testing.T) {
	s, _ := newTestStore(t, nil)
	st, _ := s.Open("s", nil)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source"))
	if err := st.SetVariants([]Variant{{Name: "source", Width: 1280, Height: 720}, {Name: "240p", Bandwidth: 400_000}}); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, st, 1, 2*time.Second, parts(1, "source", "240p"))
	got := string(readFile(t, filepath.Join(st.dir, "240p", "index.m3u8")))
	if !strings.Contains(got, "../source/0.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n1.ts\n") {
		t.Errorf("240p playlist:\n%s", got)
	}
	mv := string(readFile(t, filepath.Join(st.dir, "index.m3u8")))
	if !strings.Contains(mv, "RESOLUTION=1280x720") || !strings.Contains(mv, "240p/index.m3u8") {
		t.Errorf("multivariant:\n%s", mv)
	}
	m, err := LoadManifest(st.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Variants) != 2 || len(m.Segments) != 2 || m.Segments[1].Sizes["240p"] != 50_000 {
		t.Errorf("manifest = %+v", m)
	}
}

func TestManifestRecordsTheSession(t *testing.T) {
	s, _ := newTestStore(t, nil)
	st, _ := s.Open("s", ladder)
	mustAdd(t, st, 0, 2002*time.Millisecond, parts(0, "source", "360p", "240p"))
	mustAdd(t, st, 1, 1998*time.Millisecond, parts(1, "source"))
	live, err := LoadManifest(st.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !live.Ended.IsZero() || len(live.Segments) != 2 || live.Segments[1].Duration != 1.998 {
		t.Errorf("live manifest = %+v", live)
	}
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(st.dir, journalFile)); !os.IsNotExist(err) {
		t.Errorf("journal left after End: %v", err)
	}
	ended, err := LoadManifest(st.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ended.Ended.Equal(testClock) || ended.TargetDuration != 3 || len(ended.Segments) != 2 ||
		len(ended.Variants) != 3 || ended.Segments[0].Sizes["240p"] != 50_000 {
		t.Errorf("ended manifest = %+v", ended)
	}
}

func TestOpenArchivesTheEarlierSession(t *testing.T) {
	s, data := newTestStore(t, nil)
	old, _ := s.Open("s", nil)
	mustAdd(t, old, 0, 2*time.Second, parts(0, "source"))
	mustAdd(t, old, 1, 2*time.Second, parts(1, "source"))
	cur, err := s.Open("s", nil) // the earlier one was never ended
	if err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(data, "archive", "s", "20260301T120000Z")
	vod := readFile(t, filepath.Join(arch, "source", "index.m3u8"))
	if !bytes.Contains(vod, []byte("1.ts\n#EXT-X-ENDLIST\n")) {
		t.Errorf("archived playlist was not ended:\n%s", vod)
	}
	if !bytes.Equal(readFile(t, filepath.Join(arch, "source", "1.ts")), parts(1, "source")["source"]) {
		t.Errorf("archived segment differs")
	}
	if err := old.AddSegment(2, time.Second, parts(2, "source")); !errors.Is(err, ErrClosed) {
		t.Errorf("AddSegment on the archived session: %v, want ErrClosed", err)
	}
	if cur.FirstUniqueSeq() != 2 {
		t.Errorf("FirstUniqueSeq = %d, want 2", cur.FirstUniqueSeq())
	}
	// A third session in the same second gets its own archive directory.
	if _, err := s.Open("s", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(arch + "-2"); err != nil {
		t.Errorf("second archive: %v", err)
	}
}

func TestRestartServesAnEndedStream(t *testing.T) {
	s, data := newTestStore(t, nil)
	st, _ := s.Open("s", ladder)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source", "360p", "240p"))
	mustAdd(t, st, 1, 2*time.Second, parts(1, "source", "360p"))
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	want := readFile(t, filepath.Join(st.dir, "240p", "index.m3u8"))

	h := reopen(t, data).Handler()
	resp := get(h, "GET", "/hls/s/240p/index.m3u8")
	if got := body(t, resp); resp.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("after restart: %d\n%s", resp.StatusCode, got)
	}
	resp = get(h, "GET", "/hls/s/source/1.ts")
	if got := body(t, resp); resp.StatusCode != 200 || !bytes.Equal(got, parts(1, "source")["source"]) {
		t.Errorf("segment after restart: %d, %d bytes", resp.StatusCode, len(got))
	}
	if resp := get(h, "GET", "/hls/s/index.m3u8"); resp.StatusCode != 200 {
		t.Errorf("multivariant after restart: %d", resp.StatusCode)
	}
}

// TestNextSeqSurvivesARestart: a new session of a name numbers its
// segments after the earlier ones, also when the node restarted in
// between, so no segment URL is reused.
func TestNextSeqSurvivesARestart(t *testing.T) {
	s, data := newTestStore(t, nil)
	if got := s.NextSeq("s"); got != 0 {
		t.Errorf("NextSeq of a new name = %d, want 0", got)
	}
	st, _ := s.Open("s", ladder)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source"))
	mustAdd(t, st, 1, 2*time.Second, parts(1, "source"))
	if got := s.NextSeq("s"); got != 2 {
		t.Errorf("NextSeq while live = %d, want 2", got)
	}
	s2 := reopen(t, data)
	if got := s2.NextSeq("s"); got != 2 {
		t.Fatalf("NextSeq after restart = %d, want 2", got)
	}
	next, err := s2.Open("s", ladder)
	if err != nil {
		t.Fatal(err)
	}
	if got := next.FirstUniqueSeq(); got != 2 {
		t.Errorf("the next session's first unique seq = %d, want 2", got)
	}
}

func TestRestartEndsASessionLeftLive(t *testing.T) {
	s, data := newTestStore(t, nil)
	st, _ := s.Open("s", nil)
	for seq := uint64(0); seq < 8; seq++ {
		mustAdd(t, st, seq, 2*time.Second, parts(seq, "source"))
	}
	// No End: the process died. The journal holds the segments.
	s2 := reopen(t, data)
	p := parseMedia(t, readFile(t, filepath.Join(st.dir, "source", "index.m3u8")))
	if !p.ended || len(p.uris) != 8 || p.mediaSeq != 0 {
		t.Errorf("playlist after restart: ended=%v %d segments from %d", p.ended, len(p.uris), p.mediaSeq)
	}
	st2, ok := s2.Stream("s")
	if !ok || !st2.Stats().Ended || st2.Stats().Segments != 8 {
		t.Errorf("restored stream: %v %+v", ok, st2.Stats())
	}
}

func TestRestartSkipsACorruptSessionAndOpenArchivesIt(t *testing.T) {
	s, data := newTestStore(t, nil)
	st, _ := s.Open("s", nil)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source"))
	if err := os.WriteFile(filepath.Join(st.dir, manifestFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := reopen(t, data)
	if resp := get(s2.Handler(), "GET", "/hls/s/source/index.m3u8"); resp.StatusCode != 404 {
		t.Errorf("corrupt session served: %d", resp.StatusCode)
	}
	if _, err := s2.Open("s", nil); err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(data, "archive", "s", "20260301T130000Z", "source", "0.ts")
	if _, err := os.Stat(arch); err != nil {
		t.Errorf("corrupt session not kept in the archive: %v", err)
	}
}

func TestCloseEndsLiveStreams(t *testing.T) {
	s, _ := newTestStore(t, nil)
	st, _ := s.Open("s", nil)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !st.Stats().Ended {
		t.Error("stream still live after Close")
	}
	if _, err := s.Open("t", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
}

func TestNewRejectsAnEmptyDir(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("err = %v, want ErrConfig", err)
	}
}
