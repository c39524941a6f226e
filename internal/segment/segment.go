package segment

import (
	"context"
	"io"
	"sync"
	"time"
)

// Segment is one IDR-aligned MPEG-TS segment. Its bytes grow while the
// Segmenter writes it; readers may start at once and follow it to the end.
// The bytes live in one buffer shared by all readers: appending never
// changes bytes already written, so readers take slices of it under a short
// lock and copy outside it.
type Segment struct {
	// Seq numbers segments from 0 in the order they open.
	Seq uint64
	// Start is the stream-timeline PTS of the segment's first unit (its IDR,
	// or its first audio unit in audio-only streams). The MPEG-TS timestamps
	// inside are these plus TimestampOffset.
	Start time.Duration
	// Opened is the wall-clock time the segment opened, as its first unit
	// (its IDR) arrived: the EXT-X-PROGRAM-DATE-TIME of its playlist entry.
	Opened time.Time

	done chan struct{}

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	finished bool
	end      time.Duration // where the segment ends on the stream timeline
	doneAt   time.Time     // wall-clock time of the last byte
}

func newSegment(seq uint64, start time.Duration, capHint int) *Segment {
	g := &Segment{Seq: seq, Start: start, Opened: time.Now(), done: make(chan struct{}), buf: make([]byte, 0, capHint)}
	g.cond.L = &g.mu
	return g
}

// write appends p and wakes blocked readers. Only the Segmenter calls it.
func (g *Segment) write(p []byte) {
	g.mu.Lock()
	g.buf = append(g.buf, p...)
	g.mu.Unlock()
	g.cond.Broadcast()
}

// finish marks the segment complete, ending at end on the stream timeline.
func (g *Segment) finish(end time.Duration) {
	g.mu.Lock()
	if g.finished {
		g.mu.Unlock()
		return
	}
	g.finished, g.end, g.doneAt = true, end, time.Now()
	g.mu.Unlock()
	close(g.done)
	g.cond.Broadcast()
}

// Len returns the number of bytes written so far.
func (g *Segment) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.buf)
}

// Done returns a channel closed when the segment is finished.
func (g *Segment) Done() <-chan struct{} { return g.done }

// FinishedAt returns when the segment's last byte was written: the start
// of its turnaround. It is zero until the segment is finished.
func (g *Segment) FinishedAt() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.doneAt
}

// Duration returns the segment's play time: the next segment's Start minus
// Start, or for the last segment (and one force-finished over the size cap)
// its last unit's PTS plus one frame interval minus Start. It is 0 until
// the segment is finished.
func (g *Segment) Duration() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.finished {
		return 0
	}
	return g.end - g.Start
}

// Bytes returns the segment's bytes written so far; after Done, the whole
// segment. The slice is shared and must not be modified.
func (g *Segment) Bytes() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf[:len(g.buf):len(g.buf)]
}

// NewReader returns a reader of the segment from byte 0. Read blocks while
// the segment grows and returns io.EOF after its last byte. Each reader is
// independent; any number may run at once.
func (g *Segment) NewReader() io.Reader {
	return g.NewReaderContext(context.Background())
}

// NewReaderContext is NewReader whose blocked reads end with ctx.Err()
// when ctx is done — for a reader whose consumer may go away before the
// segment finishes.
func (g *Segment) NewReaderContext(ctx context.Context) io.Reader {
	return &reader{g: g, ctx: ctx}
}

// reader follows a growing Segment.
type reader struct {
	g   *Segment
	ctx context.Context
	off int
}

// next waits for bytes past r.off and returns them, or the reason there
// will be none.
func (r *reader) next() ([]byte, error) {
	g := r.g
	if r.ctx.Done() != nil {
		stop := context.AfterFunc(r.ctx, func() {
			g.mu.Lock() // taken so the broadcast cannot slip in before Wait
			g.mu.Unlock()
			g.cond.Broadcast()
		})
		defer stop()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for r.off == len(g.buf) && !g.finished {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		g.cond.Wait()
	}
	if r.off == len(g.buf) {
		return nil, io.EOF
	}
	return g.buf[r.off:len(g.buf)], nil
}

// Read copies the next bytes of the segment into p.
func (r *reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := r.next()
	if err != nil {
		return 0, err
	}
	n := copy(p, b)
	r.off += n
	return n, nil
}

// WriteTo writes the rest of the segment to w as it grows, straight from
// the shared buffer, so io.Copy to an HTTP body needs no copy of its own.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		b, err := r.next()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, err := w.Write(b)
		r.off += n
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}
