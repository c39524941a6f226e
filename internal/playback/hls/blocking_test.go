package hls

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/playback/hls/hlstest"
)

// blockedSession is a live stream with segment 0 stored and, unless
// atSegmentEnd, the first part of segment 1 streamed, served over HTTP.
func blockedSession(t *testing.T, atSegmentEnd bool) (*Stream, string) {
	t.Helper()
	s, st := llStream(t, nil)
	streamParts(t, st, 0, 0, 4, "source", "240p")
	completeSegment(t, st, 0, "source", "240p")
	if !atSegmentEnd {
		streamParts(t, st, 1, 0, 1, "source", "240p")
	}
	return st, newHTTPServer(t, s)
}

// TestBlockingReloadAnswersWhenItsPartArrives: a request for a part not yet
// listed is held, then answered the moment AddPart lists it (§6.2.5.2),
// well before the bound.
func TestBlockingReloadAnswersWhenItsPartArrives(t *testing.T) {
	rest := func(st *Stream) error { // the rest of segment 1, stored
		return errors.Join(addParts(st, 1, 1, 4, "source", "240p"), storeSegment(st, 1, "source", "240p"))
	}
	tests := []struct {
		name, query  string
		atSegmentEnd bool
		add          func(*Stream) error
		want         string // in the answer
	}{
		{"the next part", "_HLS_msn=1&_HLS_part=1", false,
			func(st *Stream) error { return addParts(st, 1, 1, 2, "source") }, `URI="1.1.ts"`},
		// §6.2.5.2: past a complete segment's last part is the next's part 0.
		{"past the last part of a complete segment", "_HLS_msn=0&_HLS_part=4", true,
			func(st *Stream) error { return addParts(st, 1, 0, 1, "source") }, `URI="1.0.ts"`},
		{"a whole segment", "_HLS_msn=1", false, rest, "\n1.ts\n"},
		{"the next segment's first part", "_HLS_msn=2&_HLS_part=0", false,
			func(st *Stream) error { return errors.Join(rest(st), addParts(st, 2, 0, 1, "source")) }, `URI="2.0.ts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, srv := blockedSession(t, tt.atSegmentEnd)
			added := make(chan time.Time, 1)
			go func() {
				if !blocked(st, 1) {
					t.Error("the request did not block")
				}
				time.Sleep(100 * time.Millisecond)
				added <- time.Now()
				if err := tt.add(st); err != nil {
					t.Error(err)
				}
			}()
			sent := time.Now()
			status, body, got := fetch(t, srv+"/hls/ll/source/index.m3u8?"+tt.query)
			if status != 200 || !strings.Contains(string(body), tt.want) {
				t.Fatalf("status %d, want 200 with %q:\n%s", status, tt.want, body)
			}
			// The answer came after the add, and within a second of it
			// where the bound is 6 s (three 2 s target durations).
			at := <-added
			if !got.After(at) || got.Sub(at) > time.Second || got.Sub(sent) < 100*time.Millisecond {
				t.Errorf("answered %v after the request, %v after the add", got.Sub(sent), got.Sub(at))
			}
			t.Logf("woken %v after the add", got.Sub(at))
			checkLL(t, readLL(t, body), hlstest.Rules{})
		})
	}
}

// TestBlockingReloadAnswersAtOnce: what already exists, or is no longer
// live, is answered without waiting.
func TestBlockingReloadAnswersAtOnce(t *testing.T) {
	st, srv := blockedSession(t, false)
	// Past segment 0's last part is 1.0, which exists (§6.2.5.2).
	for _, q := range []string{"_HLS_msn=0", "_HLS_msn=1&_HLS_part=0", "_HLS_msn=0&_HLS_part=2", "_HLS_msn=0&_HLS_part=9", ""} {
		start := time.Now()
		if status, _, got := fetch(t, srv+"/hls/ll/240p/index.m3u8?"+q); status != 200 || got.Sub(start) > time.Second {
			t.Errorf("%q: status %d after %v", q, status, got.Sub(start))
		}
	}
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	// An ended playlist ignores the directives (§6.2.5.2 MUST).
	status, body, _ := fetch(t, srv+"/hls/ll/source/index.m3u8?_HLS_msn=9&_HLS_part=0&_HLS_skip=YES")
	if status != 200 || !strings.HasSuffix(string(body), "#EXT-X-ENDLIST\n") {
		t.Errorf("ended: status %d\n%s", status, body)
	}
}

// TestBlockedRequestsEndWithTheStream: End answers every blocked request
// with the VOD playlist.
func TestBlockedRequestsEndWithTheStream(t *testing.T) {
	st, srv := blockedSession(t, false)
	var wg sync.WaitGroup
	for _, path := range []string{"/hls/ll/source/index.m3u8?_HLS_msn=1&_HLS_part=1", "/hls/ll/240p/index.m3u8?_HLS_msn=2"} {
		wg.Go(func() {
			if status, body, _ := fetch(t, srv+path); status != 200 || !strings.Contains(string(body), "#EXT-X-ENDLIST") {
				t.Errorf("%s: status %d\n%s", path, status, body)
			}
		})
	}
	if !blocked(st, 2) {
		t.Fatal("the requests did not block")
	}
	if err := st.End(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// TestBlockingReloadGivesUpAfterThreeTargetDurations: §6.2.5.2 says 503
// once a request has waited more than three target durations; with 1 s
// segments that is 3 s.
func TestBlockingReloadGivesUpAfterThreeTargetDurations(t *testing.T) {
	t.Parallel()
	s, st := llStream(t, nil)
	mustAdd(t, st, 0, time.Second, parts(0, "source", "240p"))
	srv := newHTTPServer(t, s)
	start := time.Now()
	resp, err := http.Get(srv + "/hls/ll/source/index.m3u8?_HLS_msn=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waited := time.Since(start)
	if resp.StatusCode != 503 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if waited < 3*time.Second || waited > 5*time.Second {
		t.Errorf("gave up after %v, want 3 s", waited)
	}
}

// TestBlockingReloadRefuses: malformed directives, and requests further
// ahead than §6.2.5.2 allows, are 400 at once.
func TestBlockingReloadRefuses(t *testing.T) {
	_, srv := blockedSession(t, false)
	for _, q := range []string{
		"_HLS_part=1",            // without _HLS_msn (MUST)
		"_HLS_msn=3",             // the last segment is 0: more than two ahead
		"_HLS_msn=1&_HLS_part=7", // six parts past 1.0: the Advance Part Limit of 0.5 s parts
		"_HLS_msn=2&_HLS_part=6",
		"_HLS_msn=-1", "_HLS_msn=1.0", "_HLS_msn=01", "_HLS_msn=", "_HLS_msn=99999999999999999999",
		"_HLS_msn=1&_HLS_msn=1", "_HLS_skip=yes", "_HLS_skip=NO", "_HLS_mns=1", "_HLS_msn=%zz",
	} {
		start := time.Now()
		status, body, got := fetch(t, srv+"/hls/ll/source/index.m3u8?"+q)
		if status != 400 || got.Sub(start) > time.Second {
			t.Errorf("%q: status %d after %v: %s", q, status, got.Sub(start), body)
		}
	}
	// Within the limits, and a parameter that is not a directive.
	for _, q := range []string{"_HLS_msn=1&_HLS_part=0", "token=x&_HLS_msn=0"} {
		if status, body, _ := fetch(t, srv+"/hls/ll/source/index.m3u8?"+q); status != 200 {
			t.Errorf("%q: status %d: %s", q, status, body)
		}
	}
}

// TestPreloadHintIsHeldUntilThePartExists: the hinted part is served the
// moment it is stored (§6.2.6); a hinted part that is never published (its
// segment ended sooner) is 404 then, and a part nobody hinted is 404 now.
func TestPreloadHintIsHeldUntilThePartExists(t *testing.T) {
	st, srv := blockedSession(t, false)
	if hint := readLL(t, liveBody(st, "source", directives{})).Hint; hint != "1.1.ts" {
		t.Fatalf("hint %q", hint)
	}
	go func() {
		blocked(st, 1)
		time.Sleep(50 * time.Millisecond)
		if err := addParts(st, 1, 1, 2, "source"); err != nil {
			t.Error(err)
		}
	}()
	if status, body, _ := fetch(t, srv+"/hls/ll/source/1.1.ts"); status != 200 || string(body) != string(partOf(1, 1, "source").Data) {
		t.Errorf("hinted part: status %d %q", status, body)
	}
	go func() {
		blocked(st, 1)
		if err := storeSegment(st, 1, "source", "240p"); err != nil { // 240p's 1 ends after one part
			t.Error(err)
		}
	}()
	if status, _, _ := fetch(t, srv+"/hls/ll/240p/1.1.ts"); status != 404 {
		t.Errorf("a hint the segment's end withdrew: status %d, want 404", status)
	}
	start := time.Now()
	if status, _, got := fetch(t, srv+"/hls/ll/source/5.0.ts"); status != 404 || got.Sub(start) > time.Second {
		t.Errorf("an unhinted future part: status %d after %v", status, got.Sub(start))
	}
}

// TestDeltaUpdates: _HLS_skip replaces the segments beyond CAN-SKIP-UNTIL
// when there are any (§6.2.5.1); the rest of the playlist is unchanged.
func TestDeltaUpdates(t *testing.T) {
	delta := llDeltaSession(t)
	short := llGoldenSession(t, nil)
	tests := []struct {
		name    string
		st      *Stream
		skip    skipMode
		skipped int
	}{
		{"a long playlist skips what ends 12 s before its end", delta, skipYes, 3},
		{"v2 skips the same", delta, skipV2, 3},
		{"a playlist no longer than the boundary skips nothing", short, skipYes, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full := readLL(t, liveBody(tt.st, "source", directives{}))
			got := readLL(t, liveBody(tt.st, "source", directives{skip: tt.skip}))
			checkLL(t, got, hlstest.Rules{})
			if got.Skipped != tt.skipped || len(got.Segments) != len(full.Segments)-tt.skipped {
				t.Fatalf("skipped %d, %d segments left of %d; want %d skipped", got.Skipped, len(got.Segments),
					len(full.Segments), tt.skipped)
			}
			for i, s := range got.Segments {
				if f := full.Segments[i+tt.skipped]; s.URI != f.URI || s.PDT != f.PDT || len(s.Parts) != len(f.Parts) {
					t.Errorf("segment %d differs from the full playlist's", i)
				}
			}
			if got.MediaSeq != full.MediaSeq || got.Hint != full.Hint || len(got.Reports) != len(full.Reports) {
				t.Errorf("delta update header or tail differ")
			}
		})
	}
}

// TestConcurrentPartsAndBlockedReaders is meant for -race: readers follow
// the live edge with blocking reloads and fetch every hinted part while a
// producer streams parts and segments; each answer must list what it was
// asked for, and each hinted part must arrive.
func TestConcurrentPartsAndBlockedReaders(t *testing.T) {
	st, srv := blockedSession(t, false)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		name := llLadder[r%2].Name
		wg.Go(func() { followLive(t, srv+"/hls/ll/"+name+"/", done) })
	}
	for seq := uint64(1); seq < 12; seq++ {
		for i := range 4 {
			if seq > 1 || i > 0 {
				streamParts(t, st, seq, i, i+1, "source", "240p")
			}
			time.Sleep(2 * time.Millisecond)
		}
		completeSegment(t, st, seq, "source", "240p")
	}
	close(done)
	if err := st.End(); err != nil {
		t.Error(err)
	}
	wg.Wait()
}

// followLive plays the live edge as an LL-HLS client does: request the
// part after the last one listed, and fetch the hinted part.
func followLive(t *testing.T, base string, done <-chan struct{}) {
	query := ""
	for {
		select {
		case <-done:
			return
		default:
		}
		status, body, _ := fetch(t, base+"index.m3u8?"+query)
		if status != 200 {
			t.Errorf("%s?%s: status %d %s", base, query, status, body)
			return
		}
		p := readLL(t, body)
		if p.Ended {
			return
		}
		if p.Hint != "" {
			if status, _, _ := fetch(t, base+p.Hint); status != 200 && status != 404 {
				t.Errorf("hint %s: status %d", p.Hint, status)
			}
		}
		msn, part := p.LastPart()
		query = directives{msn: msn, part: part + 1, hasMSN: true, hasPart: true}.query()
	}
}
