package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/testfs"
)

// TestFullDiskIsRefusedLoudlyAndCaughtUp: `castnet dev` on a disk that
// fills while a stream is live. The failures count, the node says it is
// not ready, a new publisher is refused with the reason, and once space
// returns the stream that ended meanwhile gets its ENDLIST and the node
// takes streams again.
func TestFullDiskIsRefusedLoudlyAndCaughtUp(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	disk := testfs.SmallDisk(t, "700m")
	// Plain HLS: ending a session removes its LL-HLS part files first,
	// which frees room for the ENDLIST; this test needs an ending that
	// truly cannot be written, to see it retried once space returns.
	n := startNode(t, "-data", disk, "-hls-part", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	published := publishInBackground(ctx, "90s", n.URL+"/whip/full")
	n.waitPublished(t, "full", 2, time.Minute)

	rest := filepath.Join(disk, "rest")
	testfs.Exhaust(t, rest)
	if code, body := postOffer(t, n.URL+"/whip/other"); code != http.StatusInsufficientStorage || !strings.Contains(body, "free") {
		t.Errorf("POST on a full disk: %d %q, want 507 saying what is free", code, body)
	}
	if code, failing := readyz(t, n.URL); code != http.StatusServiceUnavailable || failing["store"] == "" {
		t.Errorf("/readyz on a full disk: %d %v, want 503 naming the store", code, failing)
	}
	st := n.waitFailed(t, "full", time.Minute)
	if st.Storage != "failing" {
		t.Errorf("storage %q while segments fail, want failing", st.Storage)
	}
	cancel()
	<-published
	n.waitState("full", "ended", time.Minute)
	playlist := filepath.Join(disk, "hls", "full", "source", "index.m3u8")
	if b, _ := os.ReadFile(playlist); strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Fatal("the ENDLIST was written on a full disk: the disk was not full")
	}

	if err := os.Remove(rest); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		b, _ := os.ReadFile(playlist)
		if strings.Contains(string(b), "#EXT-X-ENDLIST") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ENDLIST 20 s after space returned:\n%s", b)
		}
	}
	if code, failing := readyz(t, n.URL); code != http.StatusOK {
		t.Errorf("/readyz after space returned: %d %v", code, failing)
	}
	checkCustodyConsistent(t, filepath.Join(disk, "hls", "full"))
	t.Logf("full disk: %d segments published, %d failed", st.Published, st.Failed)
}

// checkCustodyConsistent runs castnet verify on a session that lived
// through a full disk or a crash: every segment it has a record for checks
// out, and the only problems are playlist entries without a record, each
// named.
func checkCustodyConsistent(t *testing.T, dir string) {
	t.Helper()
	out, _ := exec.Command(binary, "verify", "-json", dir).Output()
	var rep struct {
		Problems []string `json:"problems"`
		Segments []struct {
			Seq    uint64 `json:"seq"`
			Status string `json:"status"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("castnet verify -json: %v\n%s", err, out)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p, "without a custody record") {
			t.Errorf("verify problem %q", p)
		}
	}
	for _, s := range rep.Segments {
		if s.Status == "mismatch" {
			t.Errorf("segment %d does not check out", s.Seq)
		}
	}
	t.Logf("verify: %d segments recorded, problems %q", len(rep.Segments), rep.Problems)
}

// published is how a castnet publish run ended.
type published struct {
	out string
	err error
}

// publishInBackground runs castnet publish of the test pattern for
// duration; its end arrives on the channel.
func publishInBackground(ctx context.Context, duration, url string) <-chan published {
	c := make(chan published, 1)
	go func() {
		out, err := publish(ctx, "-test-pattern", "-duration", duration, url)
		c <- published{out, err}
	}()
	return c
}

// waitPublished waits until the stream has published at least k segments.
func (n *node) waitPublished(t *testing.T, name string, k int, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(250 * time.Millisecond) {
		if st, code := n.stream(name); code == http.StatusOK && st.Published >= k {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s published fewer than %d segments in %s", name, k, limit)
		}
	}
}

// waitFailed waits until the stream counts a failed segment.
func (n *node) waitFailed(t *testing.T, name string, limit time.Duration) streamState {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(250 * time.Millisecond) {
		if st, code := n.stream(name); code == http.StatusOK && st.Failed > 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s counted no failed segment in %s", name, limit)
		}
	}
}

// postOffer POSTs a placeholder offer: a refusal before admission does not
// read it.
func postOffer(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func readyz(t *testing.T, base string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Failing map[string]string `json:"failing"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r.Failing
}
