package transcode

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLadder720p transcodes a 2 s 1280x720 30 fps H.264 + Opus segment
// into the default ladder (source, 480p, 360p) two ways, alternately, from
// the same input file:
//
//   - node: castnet's FFmpeg.Run (stdin streamed through a pipe, stderr
//     ring, supervision, reading the renditions back);
//   - bare: the identical argument list run by hand with exec.Command and
//     the file as stdin.
//
// It reports CPU-seconds per media-second for each, where node counts the
// ffmpeg child plus this process's own CPU during the job, and their ratio
// node/bare, which castnet must keep at or below 1.10.
func BenchmarkLadder720p(b *testing.B) {
	needFFmpeg(b)
	// The default (discarding) logger, as in production: the ratio should
	// not be charged for the test's log output.
	f, err := NewFFmpeg(FFmpegConfig{TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	input := makeInput(b, b.TempDir(), true)
	job := Job{Profiles: Ladder(DefaultLadder(), testW, testH), SourceWidth: testW, SourceHeight: testH}

	var nodeChild, nodeSelf, bare time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first so warm caches favour neither.
		if i%2 == 0 {
			c, s := runNode(b, f, job, input)
			nodeChild, nodeSelf, bare = nodeChild+c, nodeSelf+s, bare+runBare(b, f, job, input)
		} else {
			bare += runBare(b, f, job, input)
			c, s := runNode(b, f, job, input)
			nodeChild, nodeSelf = nodeChild+c, nodeSelf+s
		}
	}
	media := float64(b.N * testSeconds)
	b.ReportMetric((nodeChild+nodeSelf).Seconds()/media, "node-cpu-s/media-s")
	b.ReportMetric(nodeSelf.Seconds()/media, "node-self-cpu-s/media-s")
	b.ReportMetric(bare.Seconds()/media, "bare-cpu-s/media-s")
	b.ReportMetric((nodeChild+nodeSelf).Seconds()/bare.Seconds(), "node/bare")
}

// runNode runs one job through castnet and returns the child's CPU time and
// this process's CPU time over the job.
func runNode(b *testing.B, f *FFmpeg, job Job, input string) (child, self time.Duration) {
	in, err := os.Open(input)
	if err != nil {
		b.Fatal(err)
	}
	job.Input = in // the job closes it
	before := selfCPU(b)
	res, err := f.Run(context.Background(), job)
	self = selfCPU(b) - before
	if err != nil {
		b.Fatal(err)
	}
	return res.Stats.CPU(), self
}

// runBare runs the same arguments by hand and returns the child's CPU time.
func runBare(b *testing.B, f *FFmpeg, job Job, input string) time.Duration {
	in, err := os.Open(input)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(f.Path(), f.Args(job)...)
	cmd.Dir = b.TempDir()
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("bare ffmpeg: %v\n%s", err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
