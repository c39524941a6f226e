package hls

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkAddSegment stores segments of a four-rendition ladder (about
// 480 kB per segment number) and rewrites the playlists each time, the work
// a live stream does every segment. Run it with a small -benchtime such as
// 200x: every iteration leaves its segments on disk.
func BenchmarkAddSegment(b *testing.B) {
	sizes := map[string]int{"source": 256_000, "720p": 128_000, "360p": 64_000, "240p": 32_000}
	p := make(map[string][]byte, len(sizes))
	total := 0
	var variants []Variant
	for name, n := range sizes {
		p[name] = make([]byte, n)
		total += n
		variants = append(variants, Variant{Name: name, Bandwidth: n * 4})
	}
	s, _ := newTestStore(b, nil)
	st, err := s.Open("bench", variants)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		if err := st.AddSegment(seq, 2*time.Second, p); err != nil {
			b.Fatal(err)
		}
		seq++
	}
}

// BenchmarkAddSegmentSourceOnly is a -source-only node's segment: one
// rendition of 150 kB (600 kb/s for 2 s) and its playlists. cpu-µs/op is
// the process's user + system CPU (getrusage), most of it in the kernel's
// file system.
func BenchmarkAddSegmentSourceOnly(b *testing.B) {
	s, _ := newTestStore(b, nil)
	st, err := s.Open("bench", []Variant{{Name: "source", Bandwidth: 700_000}})
	if err != nil {
		b.Fatal(err)
	}
	p := map[string][]byte{"source": make([]byte, 150_000)}
	b.SetBytes(150_000)
	before := cpuTime(b)
	var seq uint64
	for b.Loop() {
		if err := st.AddSegment(seq, 2*time.Second, p); err != nil {
			b.Fatal(err)
		}
		seq++
	}
	b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
