package e2e

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// TestOrchestratorCutsOffSlowUploadsSoPublishersAreTranscoded is issue
// 11's attack 4, as reproduced against a running node: as many chunked
// POST /v1/transcode as `castnet dev -max-streams 2` has slots (8), each
// sending 752 bytes every 3 s, took every slot, and a real publisher then
// got 12 of 12 segments source only. The node now cuts each slow upload off
// at its input-idle deadline, and a `castnet publish -test-pattern`
// publisher that starts the moment every slot is taken is transcoded
// whole, on the node's default deadlines: the broadcaster waits out a busy
// node for longer than the node's input-idle deadline (2 s).
func TestOrchestratorCutsOffSlowUploadsSoPublishersAreTranscoded(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	n := startNode(t, "-max-streams", "2")
	const slots = 8
	waitInfo(t, n.URL, "the transcoder registered", func(in info) bool { return in.Capacity == slots && in.Free == slots })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	codes := make(chan int, slots)
	for i := range slots {
		go func() { codes <- trickleUpload(ctx, n.URL, uint64(i)) }()
	}
	waitInfo(t, n.URL, "every slot taken", func(in info) bool { return in.Free == 0 })
	full := time.Now()
	out, err := publish(ctx, "-test-pattern", "-duration", "12s", n.URL+"/whip/slowpeers")
	ran := time.Since(full)
	if err != nil {
		t.Fatalf("castnet publish: %v\n%s", err, out)
	}
	for range slots {
		if c := <-codes; c != 408 && c != 0 {
			t.Errorf("a slow upload got %d, want 408 (or a cut connection)", c)
		}
	}
	st := n.waitState("slowpeers", "ended", time.Minute)
	if st.SourceOnly != 0 || st.Published < 5 {
		t.Errorf("%d of %d segments source only, want every one transcoded (last error %q)", st.SourceOnly, st.Published, st.LastError)
	}
	t.Logf("publisher started as every slot was taken, ran %v: %d segments, %d source only",
		ran.Round(time.Second), st.Published, st.SourceOnly)
	waitInfo(t, n.URL, "every slot free again", func(in info) bool { return in.Free == slots })
}

// trickleUpload sends a segment upload that brings 752 bytes (four TS
// packets) every 3 s, and returns the node's status (0: a cut
// connection).
func trickleUpload(ctx context.Context, base string, seq uint64) int {
	c := &remote.Client{URL: base}
	_, err := c.Transcode(ctx, transcode.Job{Stream: "attacker", Seq: seq, Input: &trickler{ctx: ctx},
		Profiles: []transcode.Profile{transcode.SourceProfile()}, SourceWidth: 640, SourceHeight: 360})
	var se *remote.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

type trickler struct {
	ctx  context.Context
	sent bool
}

func (tr *trickler) Read(p []byte) (int, error) {
	if tr.sent {
		select {
		case <-tr.ctx.Done():
			return 0, tr.ctx.Err()
		case <-time.After(3 * time.Second):
		}
	}
	tr.sent = true
	return copy(p, bytes.Repeat([]byte{0x47}, 752)), nil
}

// waitInfo polls the node's /api/info until ok, for up to 20 s.
func waitInfo(t *testing.T, base, what string, ok func(info) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(orchInfo(t, base)) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 20 s: %+v", what, orchInfo(t, base))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
