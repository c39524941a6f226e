package publish

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
)

// firstPipeFD is the descriptor ffmpeg sees its first output pipe on:
// exec hands ExtraFiles[i] to the child as descriptor 3+i.
const firstPipeFD = 3

// pipeTarget is the ffmpeg output URL of output pipe i ("pipe:3").
func pipeTarget(i int) string { return "pipe:" + strconv.Itoa(firstPipeFD+i) }

// outputPipes are the pipes a tool writes its encoded streams into, one
// per stream, read while it runs. Nothing is written to disk, so a
// publisher that is killed leaves no files behind, and a killed
// publisher's ffmpeg dies on its next write (EPIPE) instead of encoding
// on for nobody.
type outputPipes struct {
	readers, writers []*os.File
}

// attach makes n pipes and passes their write ends to cmd.
func (p *outputPipes) attach(cmd *exec.Cmd, n int) error {
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			p.closeAll()
			return err
		}
		p.readers, p.writers = append(p.readers, r), append(p.writers, w)
	}
	cmd.ExtraFiles = p.writers
	return nil
}

// closeWriters drops the parent's write ends once the child holds its
// own, so that readers see EOF when the child exits.
func (p *outputPipes) closeWriters() {
	for _, w := range p.writers {
		w.Close()
	}
	p.writers = nil
}

func (p *outputPipes) closeAll() {
	p.closeWriters()
	for _, r := range p.readers {
		r.Close()
	}
	p.readers = nil
}

// read runs read[i] on pipe i, each in its own goroutine, since the tool
// interleaves its writes and would block on any pipe left unread. A
// reader that fails cancels the run with its error; one that stops early
// without an error has the rest of its pipe drained. Every read end is
// closed before read returns the first error.
func (p *outputPipes) read(read []func(io.Reader) error, cancel context.CancelCauseFunc) error {
	errs := make([]error, len(read))
	var wg sync.WaitGroup
	for i, fn := range read {
		wg.Go(func() {
			errs[i] = readPipe(p.readers[i], fn)
			if errs[i] != nil {
				cancel(errs[i])
			}
		})
	}
	wg.Wait()
	p.readers = nil
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func readPipe(r *os.File, fn func(io.Reader) error) error {
	defer r.Close()
	if err := fn(r); err != nil {
		return err // closing r makes the tool's next write fail
	}
	_, err := io.Copy(io.Discard, r)
	return err
}

// byteBudget bounds the bytes read through all the readers it wraps
// together: the encoded media Prepare holds in memory. Readers such as
// pion's h264reader take any read error for the end of the stream, so
// whoever reads through it asks err afterwards.
type byteBudget struct {
	limit int64
	left  atomic.Int64
}

func newByteBudget(n int64) *byteBudget {
	b := &byteBudget{limit: n}
	b.left.Store(n)
	return b
}

// wrap returns r, failing once the budget is spent.
func (b *byteBudget) wrap(r io.Reader) io.Reader { return budgetReader{r: r, b: b} }

// err is ErrMediaTooLarge once more than the budget was read.
func (b *byteBudget) err() error {
	if b.left.Load() >= 0 {
		return nil
	}
	return fmt.Errorf("%w: more than %d bytes encoded; publish less with a duration", ErrMediaTooLarge, b.limit)
}

type budgetReader struct {
	r io.Reader
	b *byteBudget
}

// Read fails, reading nothing, once the budget is spent: the read that
// overspends it still returns its bytes, so a wrapper such as bufio that
// swallows an error once meets it again on its next read.
func (br budgetReader) Read(p []byte) (int, error) {
	if err := br.b.err(); err != nil {
		return 0, err
	}
	n, err := br.r.Read(p)
	br.b.left.Add(-int64(n))
	return n, err
}
