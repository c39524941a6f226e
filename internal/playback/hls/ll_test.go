package hls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/playback/hls/hlstest"
)

// llLadder is the ladder of the LL-HLS tests.
var llLadder = []Variant{{Name: "source"}, {Name: "240p"}}

// llStream opens a session of llLadder; edit adjusts the Config.
func llStream(t testing.TB, edit func(*Config)) (*Store, *Stream) {
	t.Helper()
	s, _ := newTestStore(t, edit)
	st, err := s.Open("ll", llLadder)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// partOf is a 0.5 s fake part whose bytes say where it belongs.
func partOf(seq uint64, i int, name string) Part {
	return Part{Duration: 500 * time.Millisecond, Independent: i == 0, Data: []byte{byte(seq), byte(i), name[0], '.'}}
}

// streamParts adds parts [from, to) of segment seq of each rendition.
func streamParts(t testing.TB, st *Stream, seq uint64, from, to int, names ...string) {
	t.Helper()
	if err := addParts(st, seq, from, to, names...); err != nil {
		t.Fatal(err)
	}
}

// addParts is streamParts for goroutines, which may not stop the test.
func addParts(st *Stream, seq uint64, from, to int, names ...string) error {
	for _, name := range names {
		for i := from; i < to; i++ {
			if err := st.AddPart(name, seq, partOf(seq, i, name)); err != nil {
				return fmt.Errorf("AddPart(%s, %d): %w", name, seq, err)
			}
		}
	}
	return nil
}

// gapParts adds n unavailable parts to a rendition's segment seq.
func gapParts(t testing.TB, st *Stream, name string, seq uint64, n int) {
	t.Helper()
	for range n {
		mustAddPart(t, st, name, seq, Part{Duration: 500 * time.Millisecond, Gap: true})
	}
}

// completeSegment stores 2 s segment seq of the named renditions, starting
// seq × 2 s after testClock.
func completeSegment(t testing.TB, st *Stream, seq uint64, names ...string) {
	t.Helper()
	if err := storeSegment(st, seq, names...); err != nil {
		t.Fatal(err)
	}
}

// storeSegment is completeSegment for goroutines.
func storeSegment(st *Stream, seq uint64, names ...string) error {
	start := testClock.Add(time.Duration(seq) * 2 * time.Second)
	if err := st.AddSegmentAt(seq, start, 2*time.Second, parts(seq, names...)); err != nil {
		return fmt.Errorf("AddSegmentAt(%d): %w", seq, err)
	}
	return nil
}

// llGoldenSession streams eight 2 s segments, each in four 0.5 s parts per
// rendition. 240p's encoder fails half-way through segment 6: its last two
// parts are gaps and the segment falls back to the source. Segment 8 is in
// progress: two parts of the source; one part and a gap of 240p.
func llGoldenSession(t *testing.T, edit func(*Config)) *Stream {
	_, st := llStream(t, edit)
	for seq := uint64(0); seq < 8; seq++ {
		streamParts(t, st, seq, 0, 4, "source")
		if seq == 6 {
			streamParts(t, st, seq, 0, 2, "240p")
			gapParts(t, st, "240p", seq, 2)
			completeSegment(t, st, seq, "source")
			continue
		}
		streamParts(t, st, seq, 0, 4, "240p")
		completeSegment(t, st, seq, "source", "240p")
	}
	streamParts(t, st, 8, 0, 2, "source")
	streamParts(t, st, 8, 0, 1, "240p")
	gapParts(t, st, "240p", 8, 1)
	return st
}

// llDeltaSession is a ten-segment window of 2 s segments, long enough for
// delta updates: CAN-SKIP-UNTIL is 12 s.
func llDeltaSession(t *testing.T) *Stream {
	_, st := llStream(t, func(c *Config) { c.Window = 10 })
	for seq := uint64(0); seq < 12; seq++ {
		streamParts(t, st, seq, 0, 4, "source", "240p")
		completeSegment(t, st, seq, "source", "240p")
	}
	streamParts(t, st, 12, 0, 1, "source", "240p")
	return st
}

func TestLLPlaylistsMatchGoldenFiles(t *testing.T) {
	golden8 := llGoldenSession(t, nil)
	delta := llDeltaSession(t)
	tests := []struct {
		name      string
		st        *Stream
		rendition string
		d         directives
	}{
		// Parts of segments 5 to 7 (within three target durations of the
		// end) and of 8 in progress, the hint, 240p's report.
		{"ll_source.m3u8", golden8, "source", directives{}},
		// 240p plays the source's 6 without parts, fenced by
		// discontinuities; its segment in progress ends in a gap.
		{"ll_fallback.m3u8", golden8, "240p", directives{}},
		// The three segments ending more than 12 s before the last one's
		// end are skipped (§6.2.5.1); EXT-X-VERSION becomes 9.
		{"ll_delta.m3u8", delta, "source", directives{skip: skipYes}},
		{"ll_delta_v2.m3u8", delta, "240p", directives{skip: skipV2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := liveBody(tt.st, tt.rendition, tt.d)
			golden(t, tt.name, got)
			checkLL(t, readLL(t, got), hlstest.Rules{Min85: true})
		})
	}
	checkReports(t, map[string]hlstest.Playlist{
		"source": readLL(t, liveBody(golden8, "source", directives{})),
		"240p":   readLL(t, liveBody(golden8, "240p", directives{})),
	})
	if err := golden8.End(); err != nil {
		t.Fatal(err)
	}
	// The VOD keeps its program date-times and drops every live tag.
	vod := readFile(t, filepath.Join(golden8.dir, "240p", "index.m3u8"))
	golden(t, "ll_ended_vod.m3u8", vod)
	checkLL(t, readLL(t, vod), hlstest.Rules{})
}

// TestLLPlaylistOverHTTP: the handler sends the playlist the stream
// renders, with the playlist headers, to a plain GET.
func TestLLPlaylistOverHTTP(t *testing.T) {
	st := llGoldenSession(t, nil)
	resp := get(st.store.Handler(), "GET", "/hls/ll/source/index.m3u8")
	if got := body(t, resp); resp.StatusCode != 200 || !bytes.Equal(got, liveBody(st, "source", directives{})) {
		t.Fatalf("status %d:\n%s", resp.StatusCode, got)
	}
	if resp.Header.Get("Content-Type") != playlistType || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("headers %v", resp.Header)
	}
}

// TestLegacyPlayersSeeAPlainPlaylist: what a player without LL-HLS reads of
// a live playlist, skipping the tags it does not know (RFC 8216 §6.3.1),
// is the window of whole segments, and every segment it names is served.
// The file on disk is that plain playlist.
func TestLegacyPlayersSeeAPlainPlaylist(t *testing.T) {
	st := llGoldenSession(t, nil)
	srv := newHTTPServer(t, st.store)
	for _, name := range []string{"source", "240p"} {
		live := parseMedia(t, liveBody(st, name, directives{}))
		file := parseMedia(t, readFile(t, filepath.Join(st.dir, name, "index.m3u8")))
		if strings.Join(live.uris, " ") != strings.Join(file.uris, " ") || live.mediaSeq != file.mediaSeq ||
			live.target != file.target || len(live.uris) != 6 {
			t.Errorf("%s: live %+v, file %+v", name, live, file)
		}
		checkExtinfRule(t, live)
		if err := followOnce(srv + "/hls/ll/" + name + "/"); err != "" {
			t.Error(err)
		}
		if fileBody := string(readFile(t, filepath.Join(st.dir, name, "index.m3u8"))); strings.Contains(fileBody, "EXT-X-PART") {
			t.Errorf("%s: the file on disk lists parts:\n%s", name, fileBody)
		}
	}
}

func TestPartsDisabled(t *testing.T) {
	_, st := llStream(t, func(c *Config) { c.PartTarget = -1 })
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source", "240p"))
	if err := st.AddPart("source", 1, partOf(1, 0, "source")); err != nil {
		t.Fatalf("AddPart with parts disabled: %v", err)
	}
	if _, err := os.Stat(filepath.Join(st.dir, "source", partFile(1, 0))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a part file was written: %v", err)
	}
	resp := get(st.store.Handler(), "GET", "/hls/ll/source/index.m3u8?_HLS_msn=1")
	want := readFile(t, filepath.Join(st.dir, "source", "index.m3u8"))
	if got := body(t, resp); resp.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Errorf("status %d, body is not the plain file:\n%s", resp.StatusCode, got)
	}
}

func TestAddPartRejects(t *testing.T) {
	tests := []struct {
		name      string
		rendition string
		seq       uint64
		p         Part
		want      error
	}{
		{"a rendition that is not a variant", "720p", 2, partOf(2, 0, "7"), ErrUnknownRendition},
		{"a part of a stored segment", "source", 1, partOf(1, 0, "s"), ErrPartOrder},
		{"no duration", "source", 2, Part{Data: []byte{1}}, ErrInvalidPart},
		{"no bytes", "source", 2, Part{Duration: time.Millisecond}, ErrInvalidPart},
		{"longer than the part target", "source", 2, Part{Duration: 501 * time.Millisecond, Data: []byte{1}}, ErrInvalidPart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st := llStream(t, nil)
			completeSegment(t, st, 1, "source", "240p")
			if err := st.AddPart(tt.rendition, tt.seq, tt.p); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("too many segments in progress", func(t *testing.T) {
		_, st := llStream(t, nil)
		for seq := range uint64(maxPending) {
			streamParts(t, st, seq, 0, 1, "source")
		}
		if err := st.AddPart("source", maxPending, partOf(maxPending, 0, "s")); !errors.Is(err, ErrPartOrder) {
			t.Errorf("err = %v, want ErrPartOrder", err)
		}
	})
	t.Run("after End", func(t *testing.T) {
		_, st := llStream(t, nil)
		completeSegment(t, st, 0, "source")
		if err := st.End(); err != nil {
			t.Fatal(err)
		}
		if err := st.AddPart("source", 1, partOf(1, 0, "s")); !errors.Is(err, ErrEnded) {
			t.Errorf("err = %v, want ErrEnded", err)
		}
	})
}

// TestARefusedPartDropsTheRenditionsParts: after a part too long to list,
// the rendition's segment is listed without parts (a hole would misplace
// the later ones), its part files are gone, and its later parts refused.
func TestARefusedPartDropsTheRenditionsParts(t *testing.T) {
	_, st := llStream(t, nil)
	completeSegment(t, st, 0, "source", "240p")
	streamParts(t, st, 1, 0, 2, "source", "240p")
	if err := st.AddPart("240p", 1, Part{Duration: time.Second, Data: []byte{1}}); !errors.Is(err, ErrInvalidPart) {
		t.Fatalf("err = %v, want ErrInvalidPart", err)
	}
	if err := st.AddPart("240p", 1, partOf(1, 2, "2")); !errors.Is(err, ErrInvalidPart) {
		t.Errorf("the next part: %v, want ErrInvalidPart", err)
	}
	if _, err := os.Stat(filepath.Join(st.dir, "240p", partFile(1, 0))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("240p's first part file is still there: %v", err)
	}
	p := readLL(t, liveBody(st, "240p", directives{}))
	if len(p.Trailing.Parts) != 0 || p.Hint != "" {
		t.Errorf("240p still lists parts %v, hint %q", p.Trailing.Parts, p.Hint)
	}
	if src := readLL(t, liveBody(st, "source", directives{})); len(src.Trailing.Parts) != 2 {
		t.Errorf("the source's parts: %v", src.Trailing.Parts)
	}
}

// TestDropParts: a producer that cannot go on (its transcode restarted
// elsewhere mid-segment) drops a rendition's parts of the segment in
// progress, which is then listed without them; the other renditions keep
// theirs, and a stored segment is left alone.
func TestDropParts(t *testing.T) {
	s, st := llStream(t, nil)
	if got := s.PartTarget(); got != DefaultPartTarget {
		t.Errorf("PartTarget = %v", got)
	}
	completeSegment(t, st, 0, "source", "240p")
	streamParts(t, st, 1, 0, 2, "source", "240p")
	st.DropParts("240p", 1)
	st.DropParts("240p", 0) // stored: nothing to drop
	if err := st.AddPart("240p", 1, partOf(1, 2, "2")); !errors.Is(err, ErrInvalidPart) {
		t.Errorf("a part after DropParts: %v, want ErrInvalidPart", err)
	}
	if _, err := os.Stat(filepath.Join(st.dir, "240p", partFile(1, 1))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dropped part's file: %v", err)
	}
	low, src := readLL(t, liveBody(st, "240p", directives{})), readLL(t, liveBody(st, "source", directives{}))
	if len(low.Trailing.Parts) != 0 || len(src.Trailing.Parts) != 2 {
		t.Errorf("240p lists %d parts, the source %d", len(low.Trailing.Parts), len(src.Trailing.Parts))
	}
	completeSegment(t, st, 1, "source", "240p")
	if p := readLL(t, liveBody(st, "240p", directives{})); len(p.Segments[1].Parts) != 0 {
		t.Errorf("240p's segment 1 lists parts after DropParts")
	}
	off, _ := newTestStore(t, func(c *Config) { c.PartTarget = -1 })
	if got := off.PartTarget(); got > 0 {
		t.Errorf("PartTarget with parts disabled = %v", got)
	}
}

// TestPartFilesLiveAsLongAsTheSpecAsks: parts are listed within three
// target durations of the end, their files kept three more (§6.2.2) and
// while in the window, then removed; End removes the rest.
func TestPartFilesLiveAsLongAsTheSpecAsks(t *testing.T) {
	_, st := llStream(t, func(c *Config) { c.Window = 3 })
	exists := func(seq uint64) bool {
		_, err := os.Stat(filepath.Join(st.dir, "source", partFile(seq, 0)))
		return err == nil
	}
	for seq := uint64(0); seq < 10; seq++ {
		streamParts(t, st, seq, 0, 4, "source")
		completeSegment(t, st, seq, "source")
	}
	// The last segment ends at 20 s. The window is 7 to 9, which end
	// within 6 s of it and list their parts; the files stay for the
	// segments ending within 12 s, 3 to 9.
	p := readLL(t, liveBody(st, "source", directives{}))
	for i, s := range p.Segments {
		if listed, want := len(s.Parts) > 0, p.MSN(i) >= 7; listed != want {
			t.Errorf("segment %d lists parts %v, want %v", p.MSN(i), listed, want)
		}
	}
	for seq := uint64(0); seq < 10; seq++ {
		if got, want := exists(seq), seq >= 3; got != want {
			t.Errorf("segment %d: part file exists %v, want %v", seq, got, want)
		}
	}
	streamParts(t, st, 10, 0, 1, "source")
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	if exists(9) || exists(10) {
		t.Errorf("part files left after End")
	}
}

// TestPartNumbersAreNotReused: a segment whose parts were published but
// which never completed keeps its number from the next session, also
// across a restart, so no cached part URL serves other bytes.
func TestPartNumbersAreNotReused(t *testing.T) {
	s, data := newTestStore(t, nil)
	st, _ := s.Open("s", nil)
	completeSegment(t, st, 0, "source")
	streamParts(t, st, 1, 0, 2, "source")
	if got := s.NextSeq("s"); got != 2 {
		t.Errorf("NextSeq while 1 is in progress = %d, want 2", got)
	}
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	if got := reopen(t, data).NextSeq("s"); got != 2 {
		t.Errorf("NextSeq after End and restart = %d, want 2", got)
	}

	s2, data2 := newTestStore(t, nil)
	crashed, _ := s2.Open("c", nil)
	completeSegment(t, crashed, 0, "source")
	streamParts(t, crashed, 1, 0, 1, "source")
	// No End: the process died with 1.0.ts on disk.
	s3 := reopen(t, data2)
	if got := s3.NextSeq("c"); got != 2 {
		t.Errorf("NextSeq after a crash = %d, want 2", got)
	}
	if _, err := os.Stat(filepath.Join(crashed.dir, "source", partFile(1, 0))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed session's part is still on disk: %v", err)
	}
}

// TestRenditionReportsFollowTheOtherRenditions: a rendition whose parts of
// the next segment have started while the current one waits for its
// transcodes hints that next segment's first part, and the reports count
// only what each playlist lists.
func TestRenditionReportsFollowTheOtherRenditions(t *testing.T) {
	_, st := llStream(t, nil)
	streamParts(t, st, 0, 0, 4, "source", "240p")
	completeSegment(t, st, 0, "source", "240p")
	streamParts(t, st, 1, 0, 4, "source")
	streamParts(t, st, 1, 0, 1, "240p")
	streamParts(t, st, 2, 0, 1, "source") // 1 still waits for 240p's transcode
	src, low := readLL(t, liveBody(st, "source", directives{})), readLL(t, liveBody(st, "240p", directives{}))
	if src.Hint != "2.0.ts" || low.Hint != "1.1.ts" {
		t.Errorf("hints %q and %q, want 2.0.ts and 1.1.ts", src.Hint, low.Hint)
	}
	if len(src.Reports) != 1 || src.Reports[0] != (hlstest.Report{URI: "../240p/index.m3u8", MSN: 1, LastPart: 0}) {
		t.Errorf("source reports %+v", src.Reports)
	}
	if len(low.Reports) != 1 || low.Reports[0] != (hlstest.Report{URI: "../source/index.m3u8", MSN: 1, LastPart: 3}) {
		t.Errorf("240p reports %+v", low.Reports)
	}
	checkReports(t, map[string]hlstest.Playlist{"source": src, "240p": low})
}

// TestProgramDateTime: AddSegmentAt's time is written, AddSegment infers
// the next one from it, and a discontinuity stops the inference.
func TestProgramDateTime(t *testing.T) {
	_, st := llStream(t, nil)
	mustAdd(t, st, 0, 2*time.Second, parts(0, "source")) // no time known yet
	completeSegment(t, st, 1, "source")
	mustAdd(t, st, 2, 2*time.Second, parts(2, "source"))
	st.Discontinue()
	mustAdd(t, st, 3, 2*time.Second, parts(3, "source"))
	p := readLL(t, liveBody(st, "source", directives{}))
	want := []string{"", "2026-03-01T12:00:02.000Z", "2026-03-01T12:00:04.000Z", ""}
	for i, s := range p.Segments {
		if s.PDT != want[i] {
			t.Errorf("segment %d: EXT-X-PROGRAM-DATE-TIME %q, want %q", i, s.PDT, want[i])
		}
	}
	m, err := LoadManifest(st.dir)
	if err != nil || !m.Segments[2].Start.Equal(testClock.Add(4*time.Second)) {
		t.Errorf("manifest start of segment 2: %v %v", m.Segments[2].Start, err)
	}
}

// TestPartCachePolicy: a part's URL is unique to the session when its
// segment number is, and then it is cached like a segment.
func TestPartCachePolicy(t *testing.T) {
	s, _ := newTestStore(t, nil)
	old, _ := s.Open("s", nil)
	completeSegment(t, old, 0, "source")
	cur, _ := s.Open("s", nil)
	completeSegment(t, cur, 1, "source")
	streamParts(t, cur, 2, 0, 1, "source")
	resp := get(s.Handler(), "GET", "/hls/s/source/2.0.ts")
	if got := body(t, resp); resp.StatusCode != 200 || !bytes.Equal(got, partOf(2, 0, "source").Data) ||
		resp.Header.Get("Cache-Control") != "public, max-age=86400" || resp.Header.Get("Content-Type") != segmentType {
		t.Errorf("part: %d %v %q", resp.StatusCode, resp.Header, got)
	}
}

// fetch GETs url and returns the status, body and when the body was read.
func fetch(t *testing.T, url string) (int, []byte, time.Time) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return 0, nil, time.Now()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return resp.StatusCode, b, time.Now()
}

// blocked waits until n requests are blocked on st, and says whether they
// were within five seconds. Goroutines may call it.
func blocked(st *Stream, n int32) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if st.waiting.Load() == n {
			return true
		}
	}
	return false
}
