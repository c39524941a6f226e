package transcoder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// errCanceled is the cause of a job the orchestrator cancelled.
var errCanceled = errors.New("cancelled by the orchestrator")

// FailureClass decides whom a failed job blames, for the Castnet-Failure
// header:
//
//   - remote.FailureTranscoder when reading the input from the orchestrator
//     failed (transcode.ErrInput: a broken connection, another transcoder
//     may read it whole) and for every failure of this node rather than of
//     ffmpeg on the media (ffmpeg missing, closed, temp dir, network);
//   - remote.FailureInput when the job itself is unusable
//     (transcode.ErrInvalidJob, transcode.ErrInvalidProfile) or ffmpeg ran
//     and failed (transcode.ErrFFmpeg): undecodable or garbage media fails
//     the same way on every transcoder, so moving it would only waste time.
//
// ErrInput is checked first: ffmpeg fed a cut stream may fail too, and the
// cut is the cause.
func FailureClass(err error) string {
	switch {
	case errors.Is(err, transcode.ErrInput):
		return remote.FailureTranscoder
	case errors.Is(err, transcode.ErrInvalidJob), errors.Is(err, transcode.ErrInvalidProfile),
		errors.Is(err, transcode.ErrFFmpeg):
		return remote.FailureInput
	}
	return remote.FailureTranscoder
}

// jobSet is one session's jobs in flight.
type jobSet struct {
	n  *Node
	mu sync.Mutex
	// running maps a job id to the cancel of its context.
	running map[string]context.CancelCauseFunc
	wg      sync.WaitGroup
}

func newJobSet(n *Node) *jobSet {
	return &jobSet{n: n, running: map[string]context.CancelCauseFunc{}}
}

// start runs a dispatched job in its own goroutine, under the session's
// context so a lost link cancels it. A job beyond the capacity offered is
// the orchestrator's mistake; it is refused as a transcoder failure so the
// job moves on at once.
func (js *jobSet) start(sctx context.Context, ev remote.Event) {
	n := js.n
	js.mu.Lock()
	if _, dup := js.running[ev.Job]; dup {
		js.mu.Unlock()
		n.log.Warn("ignoring a repeated job", "job", ev.Job, "stream", ev.Stream, "seq", ev.Seq)
		return
	}
	js.wg.Add(1)
	if len(js.running) >= n.cfg.Capacity {
		js.mu.Unlock()
		n.log.Warn("job over capacity refused", "job", ev.Job, "stream", ev.Stream, "seq", ev.Seq)
		go func() {
			defer js.wg.Done()
			n.report(sctx, ev.Job, remote.FailureTranscoder, fmt.Sprintf("over capacity (%d)", n.cfg.Capacity))
		}()
		return
	}
	ctx, cancel := context.WithCancelCause(sctx)
	js.running[ev.Job] = cancel
	js.mu.Unlock()
	n.update(func(s *Status) { s.Busy++ })
	go func() {
		defer js.wg.Done()
		defer js.finish(ev.Job)
		n.run(ctx, ev)
	}()
}

func (js *jobSet) finish(id string) {
	js.mu.Lock()
	cancel := js.running[id]
	delete(js.running, id)
	js.mu.Unlock()
	cancel(nil)
	js.n.update(func(s *Status) { s.Busy-- })
}

// cancel stops job id if it is running here.
func (js *jobSet) cancel(id string) {
	js.mu.Lock()
	cancel := js.running[id]
	js.mu.Unlock()
	if cancel != nil {
		cancel(errCanceled)
	}
}

// stop cancels every job with cause and waits for them.
func (js *jobSet) stop(cause error) {
	js.mu.Lock()
	for _, cancel := range js.running {
		cancel(cause)
	}
	js.mu.Unlock()
	js.wg.Wait()
}

// run does one job: input, transcode, then result or failure. A job whose
// context ended (cancelled, or the link lost) reports nothing: the
// orchestrator has stopped waiting for this dispatch.
func (n *Node) run(ctx context.Context, ev remote.Event) {
	log := n.log.With("job", ev.Job, "stream", ev.Stream, "seq", ev.Seq)
	start := time.Now()
	var rs *resultStream
	if ev.Streamed {
		rs = n.newResultStream(ctx, ev.Job)
	}
	rends, err := n.transcode(ctx, ev, rs.partial())
	switch {
	case err == nil:
		if err = n.deliver(ctx, ev.Job, rends, rs); err != nil {
			err = fmt.Errorf("posting result: %w", err)
		}
	case ctx.Err() == nil:
		class := FailureClass(err)
		n.fail(ctx, ev.Job, class, err.Error(), rs)
		err = fmt.Errorf("%s failure: %w", class, err)
	case rs != nil && rs.started():
		_ = rs.close() // the job was cancelled: its POST ends cut short
	}
	switch {
	case ctx.Err() != nil:
		log.Info("job stopped", "reason", context.Cause(ctx))
	case err != nil:
		n.update(func(s *Status) { s.JobsFailed++ })
		log.Warn("job failed", "err", err)
	default:
		n.update(func(s *Status) { s.JobsDone++ })
		log.Info("job done", "renditions", len(rends), "took", time.Since(start).Round(time.Millisecond))
	}
}

// transcode streams the job's input from the orchestrator into the local
// transcoder as it arrives.
func (n *Node) transcode(ctx context.Context, ev remote.Event, partial func(string, int64, []byte)) ([]transcode.Rendition, error) {
	ictx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := n.request(ictx, http.MethodGet, remote.JobInputPath(ev.Job), nil)
	if err != nil {
		return nil, err
	}
	resp, err := n.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetching: %w", transcode.ErrInput, err)
	}
	defer resp.Body.Close() // the Transcoder closes it too; twice is harmless
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching input: %w", statusError(resp))
	}
	in := newIdleInput(ictx, cancel, resp.Body, n.cfg.InputIdle)
	defer in.stop()
	sum := remote.NewSummer(in, n.cfg.Vouch != nil)
	rends, err := n.cfg.Transcoder.Transcode(ctx, transcode.Job{Stream: ev.Stream, Seq: ev.Seq, Input: sum,
		Profiles: ev.Profiles, SourceWidth: ev.SourceWidth, SourceHeight: ev.SourceHeight, Partial: partial})
	if err != nil || n.cfg.Vouch == nil {
		return rends, err
	}
	if _, err := io.Copy(io.Discard, sum); err != nil {
		return nil, fmt.Errorf("%w: reading the input's end: %w", transcode.ErrInput, err)
	}
	proof, err := n.cfg.Vouch(sum.Sum(), rends)
	if err != nil {
		return nil, fmt.Errorf("signing the result: %w", err)
	}
	for i := range rends {
		rends[i].Proof = proof
	}
	return rends, nil
}

// deliver sends the result: it ends the streamed POST when the job has
// one (rs), else posts it whole.
func (n *Node) deliver(ctx context.Context, id string, rends []transcode.Rendition, rs *resultStream) error {
	if rs != nil {
		return rs.end(rends)
	}
	return n.post(ctx, id, rends)
}

// fail tells the orchestrator a job failed: in its streamed result when
// that has begun, else with a report of its own.
func (n *Node) fail(ctx context.Context, id, class, reason string, rs *resultStream) {
	if rs == nil || !rs.started() {
		n.report(ctx, id, class, reason)
		return
	}
	if err := rs.fail(class, reason); err != nil && ctx.Err() == nil {
		n.log.Warn("reporting job failure failed", "job", id, "err", err)
	}
}

// post sends the renditions in the castnet/2 multipart format, with the
// node's signed result.
func (n *Node) post(ctx context.Context, id string, rends []transcode.Rendition) error {
	ct, body := remote.EncodeRenditions(rends)
	var hdr http.Header
	if len(rends) > 0 && rends[0].Proof != "" {
		hdr = http.Header{remote.HeaderResult: {rends[0].Proof}}
	}
	return n.send(ctx, remote.JobResultPath(id), ct, bytes.NewReader(body), hdr, nil)
}

// report tells the orchestrator a job failed. Its own failure is only
// logged: the orchestrator treats the silence as a lost job in the end.
func (n *Node) report(ctx context.Context, id, class, reason string) {
	hdr := http.Header{remote.HeaderFailure: {class}}
	err := n.send(ctx, remote.JobFailurePath(id), "text/plain; charset=utf-8",
		strings.NewReader(remote.TruncateReason(reason)), hdr, nil)
	if err != nil && ctx.Err() == nil {
		n.log.Warn("reporting job failure failed", "job", id, "err", err)
	}
}

// send POSTs body to path, with trailer (set by the time body ends) when
// not nil, and expects 204.
func (n *Node) send(ctx context.Context, path, contentType string, body io.Reader, hdr, trailer http.Header) error {
	req, err := n.request(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	req.Trailer = trailer
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := n.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return statusError(resp)
	}
	return nil
}
