package publish

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// stopDelay is how long ffmpeg gets to exit after SIGTERM before it is killed.
const stopDelay = 3 * time.Second

// stderrTail is how much of a tool's stderr is kept for its error message.
const stderrTail = 2048

// siblingTool names tool in the directory of ffmpeg when ffmpeg is a path,
// so that a custom ffmpeg build is probed by its own ffprobe.
func siblingTool(ffmpeg, tool string) string {
	if !strings.ContainsRune(ffmpeg, filepath.Separator) {
		return tool
	}
	// Keep "./" so that exec does not search PATH instead.
	return filepath.Dir(ffmpeg) + string(filepath.Separator) + tool
}

// runTool runs an ffmpeg-family tool in its own process group, hands its
// stdout to readOut and output pipe i (see pipeTarget) to outputs[i], all
// read while it runs. On failure it returns ErrFFmpeg with the tail of the
// tool's stderr, or the first reader's error. When ctx ends, or a reader
// fails, the group gets SIGTERM, then a kill after stopDelay.
func runTool(parent context.Context, path string, args []string, readOut func(io.Reader) error, outputs ...func(io.Reader) error) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	cmd := exec.CommandContext(ctx, path, args...)
	setProcessGroup(cmd)
	cmd.WaitDelay = stopDelay
	tail := &tailWriter{max: stderrTail}
	cmd.Stderr = tail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrFFmpeg, path, err)
	}
	var pipes outputPipes
	if err := pipes.attach(cmd, len(outputs)); err != nil {
		return fmt.Errorf("%w: %s: output pipes: %w", ErrFFmpeg, path, err)
	}
	if err := cmd.Start(); err != nil {
		pipes.closeAll()
		return fmt.Errorf("%w: %s: %w", ErrFFmpeg, path, err)
	}
	pipes.closeWriters()
	outErr := make(chan error, 1)
	go func() { outErr <- pipes.read(outputs, cancel) }()
	var errs toolErrs
	errs.read = readOut(out)
	io.Copy(io.Discard, out) // let the tool finish even if readOut stopped early
	errs.pipes = <-outErr
	errs.wait = cmd.Wait()
	return errs.result(parent, ctx, filepath.Base(path), tail)
}

// toolErrs are what went wrong in one run of a tool.
type toolErrs struct{ read, pipes, wait error }

// result picks the error that explains a run: the caller stopping it,
// then a reader that stopped it (ctx's cause), then the tool's own
// failure, then what the readers made of a successful run's output.
func (e toolErrs) result(parent, ctx context.Context, name string, tail *tailWriter) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("publish: %s stopped: %w", name, parent.Err())
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case e.wait != nil:
		return fmt.Errorf("%w: %s: %w: %s", ErrFFmpeg, name, e.wait, tail.String())
	case e.read != nil:
		return e.read
	}
	return e.pipes
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, nil)))
}

// probeInfo is what Prepare needs to know about an input file.
type probeInfo struct {
	hasVideo, hasAudio bool
	duration           time.Duration // 0 when unknown
}

// probe asks ffprobe which kinds of stream path holds and how long it is.
func probe(ctx context.Context, ffprobe, path string) (probeInfo, error) {
	args := []string{"-v", "error", "-show_entries", "stream=codec_type:format=duration",
		"-of", "default=noprint_wrappers=1", path}
	var info probeInfo
	err := runTool(ctx, ffprobe, args, func(r io.Reader) error {
		out, err := io.ReadAll(io.LimitReader(r, 1<<20))
		info = parseProbe(out)
		return err
	})
	return info, err
}

// parseProbe reads ffprobe's key=value lines: codec_type per stream, then
// the container duration in seconds (or N/A).
func parseProbe(out []byte) probeInfo {
	var info probeInfo
	for line := range strings.Lines(string(out)) {
		key, value, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch key {
		case "codec_type":
			info.hasVideo = info.hasVideo || value == "video"
			info.hasAudio = info.hasAudio || value == "audio"
		case "duration":
			if s, err := strconv.ParseFloat(value, 64); err == nil && s > 0 && s < 1e9 {
				info.duration = time.Duration(s * float64(time.Second))
			}
		}
	}
	return info
}

// ffmpegProgress is one block of ffmpeg's -progress output.
type ffmpegProgress struct {
	outTime time.Duration // media time encoded so far
	speed   string        // e.g. "19.7x", empty when unknown
	end     bool          // the last block
}

// line formats p for a person watching a file being prepared.
func (p ffmpegProgress) line(total time.Duration) string {
	if p.end {
		return "prepared " + clock(p.outTime)
	}
	s := "preparing " + clock(p.outTime)
	if total > 0 {
		pct := min(100, int(100*p.outTime/total))
		s += fmt.Sprintf(" / %s  %d%%", clock(total), pct)
	}
	if p.speed != "" {
		s += "  speed " + p.speed
	}
	return s
}

// scanProgress reads ffmpeg's -progress key=value lines and calls report at
// the end of each block (the "progress=" line). report may be nil.
func scanProgress(r io.Reader, report func(ffmpegProgress)) error {
	sc := bufio.NewScanner(r)
	var p ffmpegProgress
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		p = p.with(key, strings.TrimSpace(value))
		if key == "progress" && report != nil {
			report(p)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return err
	}
	return nil
}

// with applies one key=value line. ffmpeg's out_time_ms is in microseconds
// too (a long-standing misnomer), and values start as N/A or negative.
func (p ffmpegProgress) with(key, value string) ffmpegProgress {
	switch key {
	case "out_time_us", "out_time_ms":
		if us, err := strconv.ParseInt(value, 10, 64); err == nil && us >= 0 && us < 1<<53 {
			p.outTime = time.Duration(us) * time.Microsecond
		}
	case "speed":
		if value != "N/A" {
			p.speed = value
		}
	case "progress":
		p.end = value == "end"
	}
	return p
}

// clock formats d as MM:SS, or H:MM:SS from an hour on.
func clock(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}
