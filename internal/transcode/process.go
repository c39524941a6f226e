package transcode

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is one supervised ffmpeg run.
type process struct {
	f    *FFmpeg
	ctx  context.Context
	job  Job
	cmd  *exec.Cmd
	tail *lineRing

	stdinW     *os.File
	closeStdin func()

	stats Stats
}

func (f *FFmpeg) process(ctx context.Context, dir string, job Job, log *slog.Logger) *process {
	cmd := exec.CommandContext(ctx, f.path, f.opts.Args(job)...)
	cmd.Dir = dir
	// Its own process group, so cancellation reaches anything ffmpeg starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = f.killDelay
	p := &process{f: f, ctx: ctx, job: job, cmd: cmd}
	p.tail = newLineRing(stderrLines, func(line string) { log.Debug("ffmpeg stderr", "line", line) })
	cmd.Stderr = p.tail
	cmd.Cancel = p.terminate
	return p
}

// terminate runs when ctx ends: stdin is closed so ffmpeg sees EOF even if
// it ignores signals while blocked in read, and the group gets SIGTERM;
// exec's WaitDelay sends SIGKILL if that was not enough.
func (p *process) terminate() error {
	p.closeStdin()
	return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
}

// run starts ffmpeg, streams the input into it and waits for it.
func (p *process) run() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%w: seq %d: stdin pipe: %w", ErrFFmpeg, p.job.Seq, err)
	}
	p.stdinW, p.closeStdin = w, sync.OnceFunc(func() { _ = w.Close() })
	p.cmd.Stdin = r // an *os.File: exec hands the fd over without a copier of its own
	start := time.Now()
	err = p.cmd.Start()
	_ = r.Close() // the child holds its own copy
	if err != nil {
		p.closeStdin()
		if p.ctx.Err() != nil {
			return fmt.Errorf("transcode seq %d: %w", p.job.Seq, context.Cause(p.ctx))
		}
		return fmt.Errorf("%w: seq %d: start: %w", ErrFFmpeg, p.job.Seq, err)
	}
	fed := p.feed()
	waitErr := p.cmd.Wait()
	p.stats = statsOf(p.cmd.ProcessState, time.Since(start))
	p.closeStdin()
	return p.result(waitErr, fed)
}

// feed copies the input into ffmpeg's stdin on a goroutine owned by the
// FFmpeg (Close waits for it). The copy error is sent before stdin is
// closed, so once ffmpeg has seen EOF the error is already waiting.
func (p *process) feed() <-chan error {
	fed := make(chan error, 1)
	p.f.wg.Add(1) // the job's own count is held, so this cannot race Wait
	go func() {
		defer p.f.wg.Done()
		_, err := io.Copy(p.stdinW, p.job.Input)
		fed <- err
		p.closeStdin()
	}()
	return fed
}

// result turns ffmpeg's exit and the copy's outcome into the job's error.
// When the job ends early the copier may still be blocked in the input's
// Read; Run's closeInput releases it and the FFmpeg waits for it in Close,
// so returning now leaks nothing.
func (p *process) result(waitErr error, fed <-chan error) error {
	seq := p.job.Seq
	if p.ctx.Err() != nil {
		// Anything ffmpeg left in its group goes too. The group id cannot
		// have been reused: reuse needs the pid to wrap around first.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("transcode seq %d: %w", seq, context.Cause(p.ctx))
	}
	if waitErr != nil {
		return fmt.Errorf("%w: seq %d: %w; stderr: %s", ErrFFmpeg, seq, waitErr, tailText(p.tail))
	}
	select {
	case err := <-fed:
		if err != nil {
			return fmt.Errorf("%w: seq %d: %w", ErrInput, seq, err)
		}
		return nil
	default:
		// ffmpeg exits cleanly only after EOF on stdin, which follows the
		// copy's result; getting here means it stopped reading early.
		return fmt.Errorf("%w: seq %d: ffmpeg exited before the input ended; stderr: %s", ErrFFmpeg, seq, tailText(p.tail))
	}
}

func statsOf(ps *os.ProcessState, wall time.Duration) Stats {
	s := Stats{Wall: wall}
	if ps == nil {
		return s
	}
	s.UserTime, s.SystemTime = ps.UserTime(), ps.SystemTime()
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		s.MaxRSSBytes = ru.Maxrss * 1024 // Linux reports kilobytes
	}
	return s
}
