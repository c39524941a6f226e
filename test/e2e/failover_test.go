package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFailoverViewersNeverSee: a broadcaster transcodes through two
// orchestrators, one running ffmpeg itself and one dispatching to a
// transcoder node; the one serving the stream is killed (SIGKILL)
// mid-stream. Every segment number still appears, in order, in every
// rendition playlist, and every segment decodes.
func TestFailoverViewersNeverSee(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	o1, cmd1, log1 := startOrchestrator(t)
	o2, cmd2, log2 := startOrchestrator(t, "-transcode", "remote", "-secret", "s3cret")
	startTranscoder(t, o2, "s3cret", 2)
	b := startRole(t, "broadcaster", "-orchestrators", o1+","+o2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		out, _ := publish(ctx, "-test-pattern", "-width", "640", "-height", "360", "-bitrate", "800000",
			"-duration", "20s", b.URL+"/whip/fo")
		done <- out
	}()
	// Let the stream run a while, then kill the orchestrator that is
	// serving it, without warning.
	deadline := time.Now().Add(40 * time.Second)
	for {
		st, _ := b.stream("fo")
		if st.Published >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no segments before the kill: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	victim := cmd1
	if lastSeq(log2.String()) > lastSeq(log1.String()) {
		victim = cmd2
	}
	if err := victim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	out := <-done
	st := b.waitState("fo", "ended", time.Minute)
	if st.Published != st.Segments || st.Published < 8 {
		t.Fatalf("published %d of %d segments:\n%s", st.Published, st.Segments, out)
	}
	dir := filepath.Join(b.Data, "hls", "fo")
	for _, r := range defaultRungs {
		text, err := os.ReadFile(filepath.Join(dir, r, "index.m3u8"))
		if err != nil {
			t.Fatal(err)
		}
		pl := parseMedia(t, string(text))
		for i, seg := range pl.Segments {
			if want := strconv.Itoa(i) + ".ts"; seg != want {
				t.Fatalf("%s: entry %d is %s, want %s (a gap or a stand-in):\n%s", r, i, seg, want, text)
			}
			decodes(t, filepath.Join(dir, r, seg))
		}
		if len(pl.Segments) != st.Published || strings.Contains(string(text), "DISCONTINUITY") {
			t.Errorf("%s: %d segments, discontinuities: %v", r, len(pl.Segments), strings.Contains(string(text), "DISCONTINUITY"))
		}
	}
	if !strings.Contains(b.logs.String(), "orchestrator failed a segment") {
		t.Errorf("the broadcaster never had to fail over: the test proved nothing\n%s", b.logs.String())
	}
	if st.Failures != 0 {
		t.Logf("transcode failures recorded: %d (%s)", st.Failures, st.LastError)
	}
}

// lastSeq is the highest segment number an orchestrator log says it
// transcoded, or -1.
func lastSeq(log string) int {
	last := -1
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "segment transcoded") {
			continue
		}
		if _, after, ok := strings.Cut(l, " seq="); ok {
			v, _, _ := strings.Cut(after, " ")
			if n, err := strconv.Atoi(v); err == nil && n > last {
				last = n
			}
		}
	}
	return last
}

// TestTranscoderKilledMidSegment: an orchestrator dispatches to two
// transcoder nodes; one is killed while it is transcoding a segment. The
// orchestrator re-dispatches the segment to the other, viewers miss
// nothing, and its capacity accounting ends exact.
func TestTranscoderKilledMidSegment(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	o, _, ologs := startOrchestrator(t, "-transcode", "remote", "-secret", "s3cret")
	t1, cmd1, _ := startTranscoder(t, o, "s3cret", 2)
	t2, cmd2, _ := startTranscoder(t, o, "s3cret", 2)
	b := startRole(t, "broadcaster", "-orchestrators", o)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		out, _ := publish(ctx, "-test-pattern", "-width", "640", "-height", "360", "-bitrate", "800000",
			"-duration", "12s", b.URL+"/whip/tk")
		done <- out
	}()
	deadline := time.Now().Add(40 * time.Second)
	for killed := false; !killed; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no transcoder was ever busy after the second segment")
		}
		if st, _ := b.stream("tk"); st.Published < 2 {
			continue
		}
		for _, tc := range []struct {
			url string
			cmd *exec.Cmd
		}{{t1, cmd1}, {t2, cmd2}} {
			if transcoderBusy(t, tc.url) > 0 {
				if err := tc.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
				break
			}
		}
	}
	out := <-done
	st := b.waitState("tk", "ended", time.Minute)
	if st.Published != st.Segments || st.SourceOnly != 0 || st.Failures != 0 {
		t.Fatalf("published %d of %d, %d source only, %d failures (%s):\n%s",
			st.Published, st.Segments, st.SourceOnly, st.Failures, st.LastError, out)
	}
	if in := orchInfo(t, o); in.Capacity != 2 || in.Free != 2 {
		t.Errorf("capacity after the kill: %+v, want 2 of 2 free", in)
	}
	if !strings.Contains(ologs.String(), "re-dispatch") {
		t.Errorf("the orchestrator never re-dispatched: the kill did not land mid-segment\n%s", ologs.String())
	}
}

// transcoderBusy reads a transcoder's busy slots from its /api/status; 0
// when it does not answer.
func transcoderBusy(t *testing.T, base string) int {
	resp, err := http.Get(base + "/api/status")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var s struct {
		Busy int `json:"busy"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&s)
	return s.Busy
}
