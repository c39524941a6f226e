package broadcaster

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/testfs"
)

// TestFullDiskCountsFailedSegmentsAndRefusesNewStreams: segments the
// store cannot write are counted as failed, the stream's storage says so,
// and the node refuses new streams with 507 until space returns.
func TestFullDiskCountsFailedSegmentsAndRefusesNewStreams(t *testing.T) {
	disk := testfs.SmallDisk(t, "400m")
	store, err := hls.New(hls.Config{Dir: filepath.Join(disk, "hls"), RetryInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Transcoder: &fakeTranscoder{fn: echo}, Store: store, Segment: time.Second, MaxInFlight: 1000})
	if err != nil {
		t.Fatal(err)
	}
	h := &pipelineHarness{b: b, store: store, dir: filepath.Join(disk, "hls")}
	t.Cleanup(func() { _ = b.Close(); _ = store.Close() })
	rest := filepath.Join(disk, "rest")
	testfs.Exhaust(t, rest)

	in := h.feed(t, "full", 3)
	if in.Failed == 0 || in.Published != 0 || in.Storage != "failing" {
		t.Errorf("on a full disk: %d failed, %d published, storage %q; want failures, none published, failing",
			in.Failed, in.Published, in.Storage)
	}
	err = b.Accepting()
	if httpx.StatusOf(err) != http.StatusInsufficientStorage {
		t.Errorf("Accepting on a full disk = %v (%d), want 507", err, httpx.StatusOf(err))
	}
	if err != nil && strings.Contains(err.Error(), disk) {
		t.Errorf("the refusal anyone may read names the store's path: %v", err)
	}
	if err := os.Remove(rest); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); b.Accepting() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still refusing after space returned: %v", b.Accepting())
		}
	}
	if in := h.feed(t, "after", 2); in.Published == 0 || in.Storage != "ok" {
		t.Errorf("after space returned: %d published, storage %q", in.Published, in.Storage)
	}
}
