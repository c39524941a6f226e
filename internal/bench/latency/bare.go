package latency

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/castnet/castnet/internal/transcode"
)

// Source shape of every measurement: what `castnet publish -test-pattern`
// sends by default.
const (
	srcW, srcH = 1280, 720
	srcFPS     = 30
	srcBitrate = 2_500_000
)

// bareLadder is the turnaround baseline: the node's own ffmpeg argument
// list (transcode.BuildArgs, so it cannot drift from what the node runs)
// over one complete segment, as a pipeline that does not stream would run
// it after the cut.
type bareLadder struct {
	ffmpeg string
	input  string // the complete segment, H.264 + Opus in MPEG-TS
	dir    string // ffmpeg's working directory (the outputs)
	args   []string
	runs   []time.Duration
}

// newBareLadder encodes one segment of seg with the publisher's settings
// (testsrc2 and a sine, libx264 veryfast zerolatency baseline at 2.5 Mb/s,
// an IDR every second, Opus) into dir.
func newBareLadder(ctx context.Context, ffmpeg, dir string, seg time.Duration) (*bareLadder, error) {
	b := &bareLadder{ffmpeg: ffmpeg, input: filepath.Join(dir, "segment.ts"), dir: filepath.Join(dir, "bare")}
	rate, gop := strconv.Itoa(srcBitrate), strconv.Itoa(srcFPS)
	secs := strconv.FormatFloat(seg.Seconds(), 'f', -1, 64)
	gen := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", srcW, srcH, srcFPS),
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000", "-t", secs,
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-bf", "0", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "96000", "-f", "mpegts", "-y", b.input}
	if out, err := exec.CommandContext(ctx, ffmpeg, gen...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("encode the bare segment: %v: %s", err, bytes.TrimSpace(out))
	}
	job := transcode.Job{Profiles: transcode.Ladder(transcode.DefaultLadder(), srcW, srcH),
		SourceWidth: srcW, SourceHeight: srcH}
	b.args = transcode.BuildArgs(job)
	return b, nil
}

// run times the ladder once, from start to exit, the segment on stdin, in
// an empty directory as the node gives each job (the arguments have no -y).
func (b *bareLadder) run(ctx context.Context) (time.Duration, error) {
	if err := os.RemoveAll(b.dir); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return 0, err
	}
	in, err := os.Open(b.input)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	cmd := exec.CommandContext(ctx, b.ffmpeg, b.args...)
	cmd.Dir, cmd.Stdin = b.dir, in
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("bare ladder: %v: %s", err, bytes.TrimSpace(out))
	}
	b.runs = append(b.runs, d)
	return d, nil
}

// median is the median run in milliseconds.
func (b *bareLadder) medianMS() float64 { return median(ms(b.runs)) }
