package hls

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// BenchmarkLivePlaylist renders one rendition's live LL-HLS playlist, the
// work of every playlist request (under the stream's read lock): a
// four-rendition ladder, a six-segment window of 2 s segments in four
// parts each, two parts of the segment in progress.
func BenchmarkLivePlaylist(b *testing.B) {
	variants := []Variant{{Name: "source"}, {Name: "720p"}, {Name: "360p"}, {Name: "240p"}}
	s, _ := newTestStore(b, nil)
	st, err := s.Open("bench", variants)
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"source", "720p", "360p", "240p"}
	for seq := uint64(0); seq < 20; seq++ {
		streamParts(b, st, seq, 0, 4, names...)
		if err := storeSegment(st, seq, names...); err != nil {
			b.Fatal(err)
		}
	}
	streamParts(b, st, 20, 0, 2, names...)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(liveBody(st, "360p", directives{}))
	}
	b.ReportMetric(float64(n), "bytes/playlist")
}

// BenchmarkBlockingWake measures how long a blocked playlist request takes
// to be answered over HTTP once AddPart stores the part it waits for: the
// part's file write, the wake-up, the render and the response.
func BenchmarkBlockingWake(b *testing.B) {
	s, st := llStream(b, nil)
	streamParts(b, st, 0, 0, 4, "source")
	completeSegment(b, st, 0, "source")
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	seq, part := uint64(1), 0
	var total time.Duration
	for b.Loop() {
		url := fmt.Sprintf("%s/hls/ll/source/index.m3u8?_HLS_msn=%d&_HLS_part=%d", srv.URL, seq, part)
		got := make(chan time.Time, 1)
		go func() {
			resp, err := http.Get(url)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			got <- time.Now()
		}()
		if !blocked(st, 1) {
			b.Fatal("the request did not block")
		}
		start := time.Now()
		streamParts(b, st, seq, part, part+1, "source")
		total += (<-got).Sub(start)
		if part++; part == 4 {
			completeSegment(b, st, seq, "source")
			seq, part = seq+1, 0
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "wake-µs/op")
}
