package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkFirstSegmentLatency measures, for a 720p30 publisher, the time
// from the first keyframe received to the first segment playable in every
// rendition (the broadcaster's first_segment_latency), against the bare
// baseline of the same run: the segment duration plus the time the same
// ffmpeg ladder takes by hand on one 2 s 720p30 segment that is already
// complete. Run with -benchtime Nx; each iteration publishes for 5 s.
func BenchmarkFirstSegmentLatency(b *testing.B) {
	needTools(b, "ffmpeg", "ffprobe")
	n := startNode(b)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		name := "lat" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = publish(ctx, "-test-pattern", "-duration", "5s", n.URL+"/whip/"+name)
		}()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			st, _ := n.stream(name)
			if st.Latency != "" {
				d, err := time.ParseDuration(st.Latency)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, d)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		<-done
		cancel()
	}
	if len(lat) == 0 {
		b.Fatal("no latency measured")
	}
	bare := bareLadder(b)
	slices.Sort(lat)
	p50 := lat[len(lat)/2]
	b.ReportMetric(p50.Seconds(), "p50-s")
	b.ReportMetric(lat[len(lat)-1].Seconds(), "max-s")
	b.ReportMetric(bare.Seconds(), "bare-ffmpeg-s")
	b.ReportMetric((p50 - 2*time.Second).Seconds(), "p50-after-2s-segment-s")
	b.ReportMetric(p50.Seconds()/(2+bare.Seconds()), "ratio-to-segment+bare")
}

// bareLadder times the default ladder by hand on one complete 2 s 720p30
// segment (median of 3), the baseline transcode cost.
func bareLadder(b *testing.B) time.Duration {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.ts")
	gen := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
		"-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-g", "60", "-c:a", "libopus", "-f", "mpegts", in)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("make input: %v %s", err, out)
	}
	var times []time.Duration
	for range 3 {
		args := []string{"-v", "error", "-y", "-i", in,
			"-filter_complex", "[0:v]split=2[a][b];[a]fps=30,scale=854:480[o1];[b]fps=30,scale=640:360[o2]",
			"-map", "0:v", "-c:v", "copy", "-map", "0:a", "-c:a", "aac", "-f", "mpegts", filepath.Join(dir, "s.ts"),
			"-map", "[o1]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-b:v", "1200k", "-c:a", "aac", "-f", "mpegts", filepath.Join(dir, "480.ts"),
			"-map", "[o2]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-b:v", "700k", "-c:a", "aac", "-f", "mpegts", filepath.Join(dir, "360.ts")}
		start := time.Now()
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			b.Fatalf("bare ladder: %v %s", err, out)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	_ = os.Remove(in)
	return times[1]
}

// BenchmarkSegmentTurnaround measures segment turnaround — from a
// segment's last byte at the broadcaster to every rendition of it
// published — for 2 s 720p30 segments through a broadcaster, an
// orchestrator in remote mode and a transcoder node, all separate
// processes on this machine. Two broadcasters share the orchestrator: one
// streams each segment as it is cut (castnet's way), one uploads it whole
// once it is complete (the baseline), and each iteration publishes 20 s to
// each in turn, so both see the same machine. Reported: the medians over
// iterations of each stream's p50 and p95, and their ratios.
func BenchmarkSegmentTurnaround(b *testing.B) {
	needTools(b, "ffmpeg", "ffprobe")
	o, _, _ := startOrchestrator(b, "-transcode", "remote", "-secret", "bench")
	startTranscoder(b, o, "bench", 2)
	streamed := startRole(b, "broadcaster", "-orchestrators", o)
	whole := startRole(b, "broadcaster", "-orchestrators", o, "-upload-whole")
	var sp50, sp95, wp50, wp95 []float64
	for i := 0; b.Loop(); i++ {
		for _, m := range []struct {
			n        *node
			p50, p95 *[]float64
		}{{streamed, &sp50, &sp95}, {whole, &wp50, &wp95}} {
			name := "ta" + strconv.Itoa(i)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			out, err := publish(ctx, "-test-pattern", "-duration", "20s", m.n.URL+"/whip/"+name)
			cancel()
			if err != nil {
				b.Fatalf("publish: %v\n%s", err, out)
			}
			st := m.n.waitState(name, "ended", time.Minute)
			if st.Turnaround == nil || st.SourceOnly != 0 || st.Failures != 0 {
				b.Fatalf("stream %s: %+v", name, st)
			}
			*m.p50 = append(*m.p50, st.Turnaround.P50)
			*m.p95 = append(*m.p95, st.Turnaround.P95)
		}
	}
	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(med(sp50), "streamed-p50-ms")
	b.ReportMetric(med(sp95), "streamed-p95-ms")
	b.ReportMetric(med(wp50), "whole-p50-ms")
	b.ReportMetric(med(wp95), "whole-p95-ms")
	b.ReportMetric(med(sp50)/med(wp50), "p50-ratio")
	b.ReportMetric(med(sp95)/med(wp95), "p95-ratio")
	b.ReportMetric(med(sp95)/2000, "p95-share-of-segment")
}
