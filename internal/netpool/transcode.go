package netpool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/castnet/castnet/internal/transcode"
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
	order, left := p.plan(job, time.Now())
	fail := &failures{stream: job.Stream, seq: job.Seq, errs: left}
	src := &sourceSpan{job: job}
	for i, n := range order {
		if i >= p.cfg.Attempts || (i > 0 && job.Reopen == nil) {
			break
		}
		in := job.Input
		if i > 0 {
			in = job.Reopen()
		}
		used = true
		rends, lat, err := p.attempt(ctx, n, job, in, src)
		if err == nil {
			p.succeeded(job, n, lat, time.Now())
			return rends, nil
		}
		fail.errs = append(fail.errs, fmt.Errorf("%s: %w", n.url, err))
		if ctx.Err() != nil || p.ctx.Err() != nil {
			break // our deadline or Close, not the node's fault
		}
		p.failedSegment(job, n, time.Now())
		next := "none"
		if i+1 < len(order) && i+1 < p.cfg.Attempts && job.Reopen != nil {
			next = order[i+1].url
		}
		p.log.Warn("orchestrator failed a segment; suspended for this stream", "stream", job.Stream,
			"seq", job.Seq, "orchestrator", n.url, "attempt", i+1, "next", next, "suspend", p.cfg.Suspend, "err", err)
	}
	if len(order) == 0 && len(left) == 0 {
		fail.errs = append(fail.errs, errors.New("no orchestrators known"))
	}
	if p.ctx.Err() != nil {
		fail.errs = append(fail.errs, ErrClosed)
	}
	return nil, fail
}

// attempt sends the segment to one node and checks the answer. It returns
// the renditions and the latency past the end of the input.
func (p *Pool) attempt(ctx context.Context, n *node, job transcode.Job, in io.Reader, src *sourceSpan) ([]transcode.Rendition, time.Duration, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(p.ctx, func() { cancel(ErrClosed) })()
	defer startDeadline(job.InputDone, p.cfg.AttemptTimeout, func() { cancel(ErrTimeout) })()
	if c, ok := in.(io.Closer); ok {
		defer c.Close() // the job owns its input (transcode.Job)
	}
	tr := &timedReader{r: in}
	a := job
	a.Input = tr
	start := time.Now()
	rends, err := n.client.Transcode(actx, a)
	answered := time.Now()
	if err != nil {
		if errors.Is(context.Cause(actx), ErrTimeout) && ctx.Err() == nil {
			return nil, 0, fmt.Errorf("%w %v after the segment's end: %w", ErrTimeout, p.cfg.AttemptTimeout, err)
		}
		return nil, 0, err
	}
	if err := checkOutput(job, rends); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	if err := checkMedia(rends, src.get()); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	from := start
	if eof := tr.eofAt(); eof.After(from) {
		from = eof
	}
	return rends, answered.Sub(from), nil
}

// startDeadline calls fire d after done is closed (after now when done is
// nil): an attempt's deadline runs from the end of its segment, since a
// live segment streams for as long as the publisher takes to send it. The
// returned stop cancels it and waits for its goroutine.
func startDeadline(done <-chan struct{}, d time.Duration, fire func()) (stop func()) {
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		if done != nil {
			select {
			case <-done:
			case <-quit:
				return
			}
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			fire()
		case <-quit:
		}
	}()
	return func() { close(quit); <-exited }
}

// timedReader notes when its reader reached EOF, which ends a live
// segment: the latency that judges an orchestrator starts there.
type timedReader struct {
	r   io.Reader
	eof atomic.Int64 // Unix nanoseconds; 0 before EOF
}

func (t *timedReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if err == io.EOF {
		t.eof.CompareAndSwap(0, time.Now().UnixNano())
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
		t.eof.CompareAndSwap(0, time.Now().UnixNano())
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
