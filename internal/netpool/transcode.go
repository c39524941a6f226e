package netpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/castnet/castnet/internal/clock"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// Transcode sends the segment to the stream's orchestrator, failing over
// to the next best ones (see the package doc). Only the first attempt
// streams job.Input; later ones re-read the segment through job.Reopen, and
// without Reopen there is only one attempt.
func (p *Pool) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	used := false // whether an attempt took job.Input (and closes it)
	defer func() {
		if c, ok := job.Input.(io.Closer); ok && !used {
			c.Close() // the job owns its input (transcode.Job)
		}
	}()
	if !p.enter() {
		return nil, ErrClosed
	}
	defer p.inflight.Done()
	if p.cfg.MaxPrice != nil {
		// Prices are unknown until the first probe round; with a limit,
		// unknown means not eligible, so wait for it rather than fail.
		select {
		case <-p.firstProbe:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.ctx.Done():
			return nil, ErrClosed
		}
	}
	fail := &failures{stream: job.Stream, seq: job.Seq}
	src := &sourceSpan{job: job}
	tries, known := 0, 0 // attempts that failed on their merits; orchestrators eligible
	for round := 0; round < busyRounds; round++ {
		order, left := p.plan(job, p.clock.Now())
		if round == 0 {
			fail.errs, known = append(fail.errs, left...), len(order)
		}
		busy := false
		last := round == busyRounds-1
		for i, n := range order {
			if tries >= p.cfg.Attempts || (used && job.Reopen == nil) {
				break
			}
			if busy && !last && p.suspendedFor(job.Stream, n) {
				// A node that is merely full beats one that just failed
				// this stream: wait for it rather than go to the bad one.
				continue
			}
			in := job.Input
			if used {
				in = job.Reopen()
			}
			used = true
			// The last orchestrator in the order has no one to hand the
			// segment to: it gets LastResortTimeout, and is not abandoned
			// when a sibling segment fails there.
			last := i == len(order)-1
			rends, lat, err := p.attempt(ctx, n, job, in, src, last)
			if err == nil {
				p.succeeded(job, n, lat, p.clock.Now())
				return rends, nil
			}
			fail.errs = append(fail.errs, fmt.Errorf("%s: %w", n.url, err))
			if ctx.Err() != nil || p.ctx.Err() != nil {
				return nil, p.closedOr(fail) // our deadline or Close, not the node's fault
			}
			if isBusy(err) {
				// Full is not faulty: no suspension, and another round
				// may find a slot free.
				busy = true
				p.log.Debug("orchestrator busy; trying the next", "stream", job.Stream, "seq", job.Seq, "orchestrator", n.url)
				continue
			}
			tries++
			p.failedSegment(job, n, p.clock.Now())
			p.log.Warn("orchestrator failed a segment; suspended for this stream", "stream", job.Stream,
				"seq", job.Seq, "orchestrator", n.url, "attempt", tries, "suspend", p.cfg.Suspend, "err", err)
		}
		if !busy || tries >= p.cfg.Attempts || job.Reopen == nil || !p.sleep(ctx, busyWait) {
			break
		}
	}
	if known == 0 && len(fail.errs) == 0 {
		fail.errs = append(fail.errs, errors.New("no orchestrators known"))
	}
	return nil, p.closedOr(fail)
}

// Every orchestrator busy: wait busyWait and try again, at most busyRounds
// rounds in all. The 3.5 s of waiting outlasts an orchestrator's default
// input-idle deadline (2 s, see remote's handler): when slow uploads hold
// every slot, the node cuts them off and a real segment waiting here still
// gets a slot instead of being published source only.
const (
	busyRounds = 8
	busyWait   = 500 * time.Millisecond
)

// isBusy reports whether err is an orchestrator's 503 (no free slot now)
// or a 402 to a request that carried no payment (its terms changed: the
// sealer fetches them afresh), neither a fault of the node. A 402 after a
// payment is a fault: the node took the tickets and refused the work, and
// could do so forever if it only made the segment move on.
func isBusy(err error) bool {
	var se *remote.StatusError
	if !errors.As(err, &se) {
		return false
	}
	return se.Code == http.StatusServiceUnavailable || se.Code == http.StatusPaymentRequired && !se.Paid
}

// checkRenditions is what an answer must pass before it is accepted, and
// before anything is paid for it.
func checkRenditions(job transcode.Job, rends []transcode.Rendition, src *sourceSpan) error {
	if err := checkOutput(job, rends); err != nil {
		return fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	if err := checkMedia(job, rends, src.get()); err != nil {
		return fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	return nil
}

// sleep waits d unless ctx or the pool ends first; it reports whether it
// waited it out.
func (p *Pool) sleep(ctx context.Context, d time.Duration) bool {
	waited := make(chan struct{})
	defer p.clock.AfterFunc(d, func() { close(waited) }).Stop()
	select {
	case <-waited:
		return true
	case <-ctx.Done():
	case <-p.ctx.Done():
	}
	return false
}

// closedOr adds ErrClosed to f when Close cut the segment short.
func (p *Pool) closedOr(f *failures) error {
	if p.ctx.Err() != nil {
		f.errs = append(f.errs, ErrClosed)
	}
	return f
}

// streamsAnswers says whether n streams its renditions as it makes them.
func (p *Pool) streamsAnswers(n *node) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return n.streams()
}

// attempt sends the segment to one node and checks the answer. It returns
// the renditions and the latency past the end of the input.
func (p *Pool) attempt(ctx context.Context, n *node, job transcode.Job, in io.Reader, src *sourceSpan, last bool) ([]transcode.Rendition, time.Duration, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(p.ctx, func() { cancel(ErrClosed) })()
	limit := p.cfg.AttemptTimeout
	if last {
		limit = p.cfg.LastResortTimeout
	}
	defer startDeadline(p.clock, job.InputDone, limit, func() { cancel(ErrTimeout) })()
	defer p.track(job, n, last, cancel)()
	if c, ok := in.(io.Closer); ok {
		defer c.Close() // the job owns its input (transcode.Job)
	}
	tr := &timedReader{r: in, clock: p.clock}
	a := job
	a.Input = tr
	if !p.streamsAnswers(n) {
		a.Partial = nil // a castnet/2 node answers whole; nothing to preview
	}
	start := p.clock.Now()
	// The output is checked before the sealer sees the answer: it bills
	// and debits, so refused work is never paid for.
	rends, err := n.client.TranscodeChecked(actx, a, func(_ transcode.Job, rends []transcode.Rendition) error {
		return checkRenditions(job, rends, src)
	})
	answered := p.clock.Now()
	if err != nil {
		if errors.Is(context.Cause(actx), ErrTimeout) && ctx.Err() == nil {
			return nil, 0, fmt.Errorf("%w %v after the segment's end: %w", ErrTimeout, limit, err)
		}
		if cause := context.Cause(actx); errors.Is(cause, ErrAbandoned) && ctx.Err() == nil {
			return nil, 0, cause
		}
		return nil, 0, err
	}
	from := start
	if eof := tr.eofAt(); eof.After(from) {
		from = eof
	}
	return rends, answered.Sub(from), nil
}

// startDeadline calls fire d on c after done is closed (after now when
// done is nil): an attempt's deadline runs from the end of its segment,
// since a live segment streams for as long as the publisher takes to send
// it. The returned stop cancels it and waits for its goroutine and for a
// fire already begun.
func startDeadline(c clock.Clock, done <-chan struct{}, d time.Duration, fire func()) (stop func()) {
	if done == nil {
		return arm(c, d, fire)
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-done:
		case <-quit:
			return
		}
		disarm := arm(c, d, fire)
		<-quit
		disarm()
	}()
	return func() { close(quit); <-exited }
}

// arm calls fire d from now on c. The returned disarm stops it, or waits
// for a fire already begun.
func arm(c clock.Clock, d time.Duration, fire func()) (disarm func()) {
	fired := make(chan struct{})
	t := c.AfterFunc(d, func() { fire(); close(fired) })
	return func() {
		if !t.Stop() {
			<-fired
		}
	}
}

// timedReader notes when its reader reached EOF, which ends a live
// segment: the latency that judges an orchestrator starts there.
type timedReader struct {
	r     io.Reader
	clock clock.Clock
	eof   atomic.Int64 // Unix nanoseconds; 0 before EOF
}

func (t *timedReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if err == io.EOF {
		t.eof.CompareAndSwap(0, t.clock.Now().UnixNano())
	}
	return n, err
}

// WriteTo keeps the input's own WriteTo (a growing segment copies straight
// from its buffer) for io.Copy into the request body.
func (t *timedReader) WriteTo(w io.Writer) (int64, error) {
	wt, ok := t.r.(io.WriterTo)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{t})
	}
	n, err := wt.WriteTo(w)
	if err == nil {
		t.eof.CompareAndSwap(0, t.clock.Now().UnixNano())
	}
	return n, err
}

func (t *timedReader) eofAt() time.Time {
	if ns := t.eof.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// failures is the error of a segment no orchestrator made: it wraps
// ErrAllFailed and each orchestrator's reason (and ErrClosed when Close
// cut it short).
type failures struct {
	stream string
	seq    uint64
	errs   []error
}

func (f *failures) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v (stream %q, segment %d)", ErrAllFailed, f.stream, f.seq)
	for i, err := range f.errs {
		b.WriteString([]string{": ", "; "}[min(i, 1)])
		// One line: reasons may carry an ffmpeg stderr tail.
		b.WriteString(strings.Join(strings.Fields(err.Error()), " "))
	}
	return b.String()
}

func (f *failures) Unwrap() []error { return append([]error{ErrAllFailed}, f.errs...) }
