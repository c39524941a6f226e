package dispatch

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// attempt is one dispatch of a job to one transcoder. Each has its own
// random id, so a late request from a transcoder the job was taken from
// finds nothing (404) instead of mixing with its successor.
type attempt struct {
	id     string
	job    transcode.Job // labels, ladder and source size; Input is nil
	buf    *buffer
	seg    *segment
	t      *tconn
	n      int // 0 for the first dispatch
	start  time.Time
	ctx    context.Context // ends with the dispatch; input streams stop with it
	cancel context.CancelFunc

	check    remote.Check  // what a result must pass to be taken; nil: nothing
	picked   chan struct{} // closed when the transcoder first asks for the input
	pickOnce sync.Once
	outcome  chan outcome // capacity 1, filled by claim
}

// verdict ends one attempt: the job's final answer (rends or err), or,
// with move set, why the job should go to another transcoder.
type verdict struct {
	rends []transcode.Rendition
	err   error
	move  string
}

// outcome is what a transcoder reported: renditions, or a failure class
// and reason.
type outcome struct {
	rends  []transcode.Rendition
	class  string // "" on success, else remote.FailureInput or FailureTranscoder
	reason string
}

func (a *attempt) pickUp() { a.pickOnce.Do(func() { close(a.picked) }) }

// Transcode buffers job's input as it arrives and has a connected
// transcoder turn it into renditions, moving it to another transcoder (which
// reads the segment again from byte 0) if the first is lost or fails. With
// no free transcoder it fails at once with ErrNoTranscoder, so the
// broadcaster can go elsewhere instead of queueing.
func (p *Pool) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	return p.TranscodeMoving(ctx, job, nil)
}

var _ remote.Mover = (*Pool)(nil)

// TranscodeMoving is Transcode with check run on each transcoder's result
// once the segment has arrived whole (remote.Mover): a result it refuses
// is that transcoder's failure, and the job moves on as when the
// transcoder fails itself. The orchestrator's gate checks results so, and
// a transcoder's lie is then its own fault, not the orchestrator's.
func (p *Pool) TranscodeMoving(ctx context.Context, job transcode.Job, check remote.Check) ([]transcode.Rendition, error) {
	defer closeInput(job.Input) // the job owns its input, whatever happens below
	if err := job.Validate(); err != nil {
		return nil, err
	}
	if err := jobEvent("", job).Validate(); err != nil {
		return nil, fmt.Errorf("%w: seq %d: %w", ErrBadJob, job.Seq, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transcode seq %d: %w", job.Seq, context.Cause(ctx))
	}
	if !p.begin() {
		return nil, ErrClosed
	}
	defer p.wg.Done()
	t := p.acquire(nil)
	if t == nil {
		return nil, httpx.WithRetryAfter(fmt.Errorf("seq %d: %w", job.Seq, ErrNoTranscoder), time.Second)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(p.ctx, func() { cancel(ErrClosed) })
	defer stop()
	buf := newBuffer(p.cfg.MaxSegmentBytes)
	p.wg.Add(1) // inside this call's own count, so it cannot race Close's Wait
	go func() {
		defer p.wg.Done()
		buf.fill(ctx, job.Input)
	}()
	return p.run(ctx, job, &segment{buf: buf, check: check}, t)
}

// segment is what every dispatch of a job shares: its input as it
// arrives, the check its results must pass, and which dispatch's streamed
// result is passed on to the job's Partial.
type segment struct {
	buf   *buffer
	check remote.Check

	mu      sync.Mutex
	current *attempt // nil once the job is answered: nothing more is passed on
}

// forward passes a chunk of a's streamed result to the job's Partial if a
// is the job's current dispatch. Under the lock, so a dispatch the job
// has moved from can never slip a chunk in after its successor's.
func (s *segment) forward(a *attempt, name string, off int64, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == a && a.job.Partial != nil {
		a.job.Partial(name, off, b)
	}
}

// follow makes a (nil: none) the dispatch whose chunks are passed on.
func (s *segment) follow(a *attempt) {
	s.mu.Lock()
	s.current = a
	s.mu.Unlock()
}

// run dispatches the job to t, and on to others while transcoders are lost
// or fail, up to Config.Redispatch times.
func (p *Pool) run(ctx context.Context, job transcode.Job, seg *segment, t *tconn) ([]transcode.Rendition, error) {
	tried := map[*tconn]bool{}
	why := ""
	defer seg.follow(nil) // the job's answer is final: no chunk may follow it
	for n := 0; ; n++ {
		tried[t] = true
		v := p.dispatch(ctx, job, seg, t, n, why)
		if v.move == "" {
			return v.rends, v.err
		}
		why = v.move
		next, whyNot := (*tconn)(nil), "no more re-dispatches allowed"
		if n < p.cfg.Redispatch {
			next, whyNot = p.acquire(tried), "no other transcoder is free"
		}
		if next == nil {
			p.log.Warn("job failed", "transcoder", t.id, "stream", job.Stream, "seq", job.Seq, "reason", why,
				"dispatches", n+1, "not_moved", whyNot)
			return nil, fmt.Errorf("%w: seq %d: %s (dispatch %d; %s)", ErrLost, job.Seq, why, n+1, whyNot)
		}
		t = next
	}
}

// dispatch runs one attempt on t, whose slot the caller took. It returns
// the job's final answer, or a reason to move the job to another
// transcoder. The slot is released exactly once, here.
func (p *Pool) dispatch(ctx context.Context, job transcode.Job, seg *segment, t *tconn, n int, prev string) verdict {
	defer p.release(t)
	a := p.newAttempt(ctx, job, seg, t, n)
	defer a.cancel()
	line, err := remote.EncodeEvent(jobEvent(a.id, job))
	if err != nil { // checked in Transcode; cannot happen
		p.forget(a)
		return verdict{err: fmt.Errorf("%w: %w", ErrBadJob, err)}
	}
	if n == 0 {
		p.log.Info("job dispatched", "transcoder", t.id, "stream", job.Stream, "seq", job.Seq, "job", a.id)
	} else {
		p.log.Info("job re-dispatched", "transcoder", t.id, "stream", job.Stream, "seq", job.Seq, "job", a.id,
			"dispatch", n+1, "reason", prev)
	}
	if !t.enqueue(line) {
		p.drop(t, "event queue full")
	}
	pickup := time.NewTimer(p.cfg.PickupTimeout)
	defer pickup.Stop()
	picked, pickupC, bufDone := a.picked, pickup.C, a.buf.done
	for {
		select {
		case o := <-a.outcome:
			return p.conclude(a, o)
		case <-picked:
			picked, pickupC = nil, nil
		case <-pickupC:
			p.drop(t, fmt.Sprintf("did not fetch job input within %v", p.cfg.PickupTimeout))
			return p.lost(a, "transcoder "+t.id+" did not pick the job up")
		case <-t.gone:
			return p.lost(a, "transcoder "+t.id+" gone")
		case <-bufDone:
			bufDone = nil
			if err := a.buf.failure(); err != nil {
				return p.abandon(a, fmt.Errorf("seq %d: %w", job.Seq, err))
			}
		case <-ctx.Done():
			return p.abandon(a, fmt.Errorf("transcode seq %d: %w", job.Seq, context.Cause(ctx)))
		}
	}
}

func (p *Pool) newAttempt(ctx context.Context, job transcode.Job, seg *segment, t *tconn, n int) *attempt {
	job.Input, job.Reopen = nil, nil
	a := &attempt{id: randomHex(16), job: job, buf: seg.buf, seg: seg, t: t, n: n, start: time.Now(), check: seg.check,
		picked: make(chan struct{}), outcome: make(chan outcome, 1)}
	a.ctx, a.cancel = context.WithCancel(ctx)
	seg.follow(a)
	p.mu.Lock()
	p.attempts[a.id] = a
	p.mu.Unlock()
	return a
}

// conclude turns a transcoder's report into the job's answer, or into a
// reason to move the job.
func (p *Pool) conclude(a *attempt, o outcome) verdict {
	job := a.job
	switch o.class {
	case "":
		p.count(a.t, &a.t.done)
		p.log.Info("job done", "transcoder", a.t.id, "stream", job.Stream, "seq", job.Seq,
			"took", time.Since(a.start).Round(time.Millisecond))
		return verdict{rends: o.rends}
	case remote.FailureInput:
		p.count(a.t, &a.t.failed)
		p.log.Warn("job failed", "transcoder", a.t.id, "stream", job.Stream, "seq", job.Seq, "class", o.class,
			"reason", o.reason)
		return verdict{err: fmt.Errorf("%w: seq %d: %s", remote.ErrTranscode, job.Seq, o.reason)}
	}
	p.count(a.t, &a.t.failed)
	return verdict{move: "transcoder " + a.t.id + " failed: " + o.reason}
}

// lost ends an attempt whose transcoder went away, unless its report won
// the race.
func (p *Pool) lost(a *attempt, why string) verdict {
	if o, ok := p.forget(a); !ok {
		return p.conclude(a, o)
	}
	p.count(a.t, &a.t.lostJobs)
	return verdict{move: why}
}

// abandon ends an attempt for the caller's sake (its context ended, or the
// input failed) and tells the transcoder to stop.
func (p *Pool) abandon(a *attempt, err error) verdict {
	if o, ok := p.forget(a); !ok {
		return p.conclude(a, o)
	}
	if line, lerr := remote.EncodeEvent(remote.Event{Type: remote.EventCancel, Job: a.id}); lerr == nil && !a.t.enqueue(line) {
		p.drop(a.t, "event queue full")
	}
	p.log.Info("job abandoned", "transcoder", a.t.id, "stream", a.job.Stream, "seq", a.job.Seq, "err", err)
	return verdict{err: err}
}

// forget takes a out of flight. If a transcoder's report claimed it first,
// forget returns that report and false.
func (p *Pool) forget(a *attempt) (outcome, bool) {
	p.mu.Lock()
	if p.attempts[a.id] == a {
		delete(p.attempts, a.id)
		p.mu.Unlock()
		return outcome{}, true
	}
	p.mu.Unlock()
	return <-a.outcome, false // claim sent it under the lock, so it is there
}

// lookup returns the attempt in flight with id, or nil.
func (p *Pool) lookup(id string) *attempt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts[id]
}

// claim delivers o to a if a is still in flight; only the first report
// (or forget) wins.
func (p *Pool) claim(a *attempt, o outcome) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.attempts[a.id] != a {
		return false
	}
	delete(p.attempts, a.id)
	a.outcome <- o // capacity 1 and only one claim: never blocks
	return true
}

// acquire takes a slot on the connected transcoder with the most free
// slots, skipping those in exclude; nil if none has one.
func (p *Pool) acquire(exclude map[*tconn]bool) *tconn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best *tconn
	for _, t := range p.ts {
		free := t.capacity - t.busy
		if free <= 0 || exclude[t] {
			continue
		}
		if best == nil || free > best.capacity-best.busy ||
			free == best.capacity-best.busy && (t.since.Before(best.since) || t.since.Equal(best.since) && t.id < best.id) {
			best = t
		}
	}
	if best != nil {
		best.busy++
	}
	return best
}

// release gives back a slot taken by acquire.
func (p *Pool) release(t *tconn) {
	p.mu.Lock()
	t.busy--
	p.mu.Unlock()
}

// count bumps one of t's counters under the lock.
func (p *Pool) count(t *tconn, c *uint64) {
	p.mu.Lock()
	*c++
	p.mu.Unlock()
}

// jobEvent is the job line for a dispatch.
func jobEvent(id string, job transcode.Job) remote.Event {
	if id == "" {
		id = "00000000000000000000000000000000" // a placeholder that passes the id check
	}
	return remote.Event{Type: remote.EventJob, Job: id, Stream: job.Stream, Seq: job.Seq,
		SourceWidth: job.SourceWidth, SourceHeight: job.SourceHeight, Profiles: job.Profiles,
		Streamed: job.Partial != nil}
}

func closeInput(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close() // the job owns the input; a second close is harmless
	}
}
