package broadcaster

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/transcode"
)

// TestOversizedSPSMidStreamNeverReachesTheTranscoder: the SPS is bounded
// on every keyframe, not only the first (issue 11). A keyframe whose SPS
// switches to 16896x16896 mid-stream, and the frames after it, are dropped
// until a keyframe within transcode.MaxDimension; the stream says why and
// goes on.
func TestOversizedSPSMidStreamNeverReachesTheTranscoder(t *testing.T) {
	forged := mpegtstest.SPS(16896, 16896)
	var mu sync.Mutex
	var inputs [][]byte
	var sizes []string
	tr := &fakeTranscoder{fn: func(job transcode.Job, in []byte) ([]transcode.Rendition, error) {
		mu.Lock()
		inputs = append(inputs, in)
		sizes = append(sizes, fmt.Sprintf("%dx%d", job.SourceWidth, job.SourceHeight))
		mu.Unlock()
		return echo(job, in)
	}}
	h := newPipeline(t, tr)
	units := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: 3, FPS: 30}) // an IDR every second
	keys := 0
	for i, au := range units {
		if au.Keyframe {
			keys++
			if keys == 2 { // the IDR at 1 s
				units[i].NALUs = append([][]byte{forged}, au.NALUs[1:]...)
			}
		}
	}
	sink, err := h.b.StartStream(context.Background(), whip.Publish{Stream: "big", Session: "s1",
		Video: media.CodecH264, RequestKeyframe: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range units {
		sink.WriteAccessUnit(au)
	}
	in, err := h.b.Stream("big")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(in.LastError, "16896x16896") {
		t.Errorf("last error %q, want it to name the oversized SPS", in.LastError)
	}
	sink.Close(nil)
	deadline := time.Now().Add(20 * time.Second)
	for in.State != StateEnded && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if in, err = h.b.Stream("big"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(inputs) < 2 {
		t.Fatalf("%d segments transcoded, want the stream to go on after the oversized keyframe", len(inputs))
	}
	for i, b := range inputs {
		if bytes.Contains(b, forged[1:]) {
			t.Errorf("segment %d carries the 16896x16896 SPS to the transcoder (source %s)", i, sizes[i])
		}
		if sizes[i] != "160x120" {
			t.Errorf("segment %d: source size %s", i, sizes[i])
		}
	}
}
