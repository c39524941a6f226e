package broadcaster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/transcode"
)

// testPayer stands for a session's committed admission (a permit).
type testPayer string

func (p testPayer) String() string { return string(p) }

// TestJobsCarryTheirSessionsPayer (issue 11, attack 1): each segment's
// transcode job and custody record carry the payer of the session that
// made it, not whoever publishes under the stream's name when the work
// finishes. The first session's segments are held in flight while a
// second session of the name starts and publishes.
func TestJobsCarryTheirSessionsPayer(t *testing.T) {
	hold := make(chan struct{})
	var mu sync.Mutex
	var billed []testPayer // the payer of each job, as it finishes
	tr := &fakeTranscoder{fn: func(job transcode.Job, in []byte) ([]transcode.Rendition, error) {
		if job.Payer == testPayer("first") {
			<-hold
		}
		mu.Lock()
		p, _ := job.Payer.(testPayer)
		billed = append(billed, p)
		mu.Unlock()
		return echo(job, in)
	}}
	var recorded []testPayer
	h := newPipelineConfig(t, tr, func(c *Config) {
		c.Custody = func(cu Custody) error {
			p, _ := cu.Payer.(testPayer)
			mu.Lock()
			recorded = append(recorded, p)
			mu.Unlock()
			return nil
		}
	})
	first := h.session(t, "first", "s1")
	second := h.session(t, "second", "s2")
	h.waitEnded(t, second)
	mu.Lock()
	if len(billed) == 0 || len(recorded) == 0 {
		t.Fatalf("the second session's jobs %v, custody %v", billed, recorded)
	}
	for i, p := range append(append([]testPayer{}, billed...), recorded...) {
		if p != "second" {
			t.Errorf("job or record %d of the second session carries payer %q", i, p)
		}
	}
	billed, recorded = nil, nil
	mu.Unlock()
	close(hold)
	h.waitEnded(t, first)
	mu.Lock()
	defer mu.Unlock()
	if len(billed) == 0 {
		t.Fatal("the first session's held jobs never finished")
	}
	for i, p := range append(billed, recorded...) {
		if p != "first" {
			t.Errorf("job or record %d finishing after the second session carries payer %q, want the first session's", i, p)
		}
	}
}

// session publishes 2.5 s of H.264 as a session of "cam" billed to payer,
// and ends it.
func (h *pipelineHarness) session(t *testing.T, payer testPayer, id string) *Stream {
	t.Helper()
	sink, err := h.b.StartStream(context.Background(), whip.Publish{Stream: "cam", Session: id,
		Video: media.CodecH264, RequestKeyframe: func() {}, Payer: payer})
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: 2.5, FPS: 30}) {
		sink.WriteAccessUnit(au)
	}
	sink.Close(nil)
	return sink.(*Stream)
}

func (h *pipelineHarness) waitEnded(t *testing.T, st *Stream) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for st.Info().State != StateEnded {
		if time.Now().After(deadline) {
			t.Fatalf("session %s never ended", st.pub.Session)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
