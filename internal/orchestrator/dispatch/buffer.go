package dispatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// buffer holds one segment as it arrives from the broadcaster, so every
// dispatch of the job (a re-dispatch included) reads it from byte 0 while
// it is still growing. Appending never changes bytes already written, so
// readers take slices under a short lock and write them out unlocked, as
// segment.Segment does.
type buffer struct {
	max  int64
	done chan struct{} // closed by finish

	mu   sync.Mutex
	cond sync.Cond
	data []byte
	end  bool
	err  error // why the buffer ended early; nil after a clean EOF
}

func newBuffer(max int64) *buffer {
	b := &buffer{max: max, done: make(chan struct{})}
	b.cond.L = &b.mu
	return b
}

// fill copies in into b until EOF, a read error, the size cap or ctx's end.
// The caller releases a Read blocked on a stalled producer by closing in.
func (b *buffer) fill(ctx context.Context, in io.Reader) {
	chunk := make([]byte, 32<<10)
	for {
		if err := ctx.Err(); err != nil {
			b.finish(context.Cause(ctx))
			return
		}
		n, err := in.Read(chunk)
		if n > 0 && !b.append(chunk[:n]) {
			b.finish(fmt.Errorf("%w: more than %d bytes", ErrTooLarge, b.max))
			return
		}
		if errors.Is(err, io.EOF) {
			b.finish(nil)
			return
		}
		if err != nil {
			// %w keeps an http.MaxBytesError's 413 from the broadcaster's body.
			b.finish(fmt.Errorf("%w: %w", ErrInput, err))
			return
		}
	}
}

// append adds p unless that would pass the cap, and wakes readers.
func (b *buffer) append(p []byte) bool {
	b.mu.Lock()
	if int64(len(b.data))+int64(len(p)) > b.max {
		b.mu.Unlock()
		return false
	}
	b.data = append(b.data, p...)
	b.mu.Unlock()
	b.cond.Broadcast()
	return true
}

// finish ends the buffer, cleanly (err nil) or not; only the first call
// counts.
func (b *buffer) finish(err error) {
	b.mu.Lock()
	if b.end {
		b.mu.Unlock()
		return
	}
	b.end, b.err = true, err
	b.mu.Unlock()
	close(b.done)
	b.cond.Broadcast()
}

// failure reports why the buffer ended early, or nil.
func (b *buffer) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// size returns how many bytes have arrived.
func (b *buffer) size() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int64(len(b.data))
}

// next waits for bytes past off and returns them; io.EOF after the last
// byte of a complete segment, the buffer's failure, or ctx's error.
func (b *buffer) next(ctx context.Context, off int) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock() // taken so the broadcast cannot slip in before Wait
		b.mu.Unlock()
		b.cond.Broadcast()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for off == len(b.data) && !b.end {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.cond.Wait()
	}
	switch {
	case off < len(b.data):
		return b.data[off:len(b.data):len(b.data)], nil
	case b.err != nil:
		return nil, b.err
	}
	return nil, io.EOF
}
