package dispatch_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// TestRefusedResultMovesTheJob: a result that TranscodeMoving's check
// refuses (the orchestrator's gate would not vouch for it) is that
// transcoder's failure: it hears 400, and the job moves to another
// transcoder, whose result the check takes. The check runs only once the
// segment has arrived whole (the gate reads the record that ends it), even
// for a result sent before the segment's end.
func TestRefusedResultMovesTheJob(t *testing.T) {
	data := segment(3000)
	p, srv := newPool(t, dispatch.Config{})
	fake := connectFake(t, srv, 2) // registered first, with the most free slots: it gets the job
	startNode(t, p, srv, echo, 1)
	in, release := growingInput(t, data, 1000)
	var whole, early atomic.Bool
	check := func(_ transcode.Job, rends []transcode.Rendition) error {
		early.CompareAndSwap(false, !whole.Load())
		if rends[0].Proof == "lie" {
			return errors.New("the gate would not vouch for it")
		}
		return nil
	}
	ch := make(chan result, 1)
	go func() {
		rends, err := p.TranscodeMoving(context.Background(), job(5, in), check)
		ch <- result{rends: rends, err: err}
	}()
	ev := fake.next(remote.EventJob)
	input, _ := fake.readInput(ev.Job, 1000)
	defer input.Close()
	code := make(chan int, 1)
	go func() { code <- postResult(srv, ev.Job, echoed(data, 320, 240, 160, 120), "lie") }()
	time.Sleep(100 * time.Millisecond) // the result is in before the segment's end
	whole.Store(true)
	release()
	if c := <-code; c != http.StatusBadRequest {
		t.Errorf("the refused result was answered %d, want 400", c)
	}
	r := await(t, ch)
	if r.err != nil || len(r.rends) != 2 || !bytes.Equal(r.rends[1].Data, data) {
		t.Fatalf("job not moved: %v", r.err)
	}
	if early.Load() {
		t.Error("a result was checked before its segment had arrived whole")
	}
	for _, tr := range p.Snapshot().Transcoders {
		if tr.Name == "fake" && (tr.JobsFailed != 1 || tr.JobsDone != 0) || tr.Name == "real" && tr.JobsDone != 1 {
			t.Errorf("counts %+v", tr)
		}
	}
}

// postResult posts rends as job id's result, with proof as the signed
// result, and returns the status (0 when the request failed).
func postResult(srv *httptest.Server, id string, rends []transcode.Rendition, proof string) int {
	ct, body := remote.EncodeRenditions(rends)
	req, err := http.NewRequest(http.MethodPost, srv.URL+remote.JobResultPath(id), bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", ct)
	req.Header.Set(remote.HeaderResult, proof)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
