package transcoder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/castnet/castnet/internal/transcode"
)

// errInputIdle cancels the input request of a job whose input stalled.
var errInputIdle = errors.New("job input stalled")

// idleInput is a job's input from the orchestrator that fails when a Read
// waits longer than idle: the request is cancelled, which unblocks the
// Read. Only time spent waiting in Read counts, not time ffmpeg takes to
// ask for more.
type idleInput struct {
	ctx   context.Context // the input request's, cancelled with errInputIdle
	body  io.ReadCloser
	idle  time.Duration
	timer *time.Timer
}

func newIdleInput(ctx context.Context, cancel context.CancelCauseFunc, body io.ReadCloser, idle time.Duration) *idleInput {
	t := time.AfterFunc(time.Hour, func() { cancel(errInputIdle) })
	t.Stop()
	return &idleInput{ctx: ctx, body: body, idle: idle, timer: t}
}

func (in *idleInput) Read(p []byte) (int, error) {
	in.timer.Reset(in.idle)
	n, err := in.body.Read(p)
	in.timer.Stop()
	if err != nil && errors.Is(context.Cause(in.ctx), errInputIdle) {
		err = fmt.Errorf("%w: no input byte from the orchestrator for %v", transcode.ErrInput, in.idle)
	}
	return n, err
}

// Close closes the input (the Transcoder owns it).
func (in *idleInput) Close() error { return in.body.Close() }

// stop disarms the timer once the job is over.
func (in *idleInput) stop() { in.timer.Stop() }
