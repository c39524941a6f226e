package mpegts_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
)

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpus")

// fuzzSeeds are small transport streams: clean ones from the muxer and
// damaged variants, so the fuzzer starts from inputs that reach deep code.
func fuzzSeeds(t testing.TB) map[string][]byte {
	var clean bytes.Buffer
	m := mpegts.NewMuxer(&clean, mpegts.MuxerConfig{Video: true, Audio: mpegts.AudioOpus})
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.WriteVideo(time.Second, time.Second, true, frame(400, true)))
	must(m.WriteAudio(time.Second, []byte{0xFC, 1, 2, 3}))
	must(m.WriteVideo(1100*time.Millisecond, time.Second+33*time.Millisecond, false, frame(30, false)))
	var aac bytes.Buffer
	ma := mpegts.NewMuxer(&aac, mpegts.MuxerConfig{Audio: mpegts.AudioAAC})
	must(ma.WriteAudio(0, adts(40)))
	c := clean.Bytes()
	const P = mpegts.PacketSize
	return map[string][]byte{
		"clean":        c,
		"aac":          aac.Bytes(),
		"resync":       bytes.Join([][]byte{c[:3*P], {0x47, 0, 0x47}, c[3*P:]}, nil),
		"lost-packet":  append(append([]byte{}, c[:3*P]...), c[4*P:]...),
		"truncated":    c[:len(c)-7],
		"tables-only":  c[:2*P],
		"empty":        {},
		"one-sync":     {0x47},
		"bad-pointer":  append([]byte{0x47, 0x40, 0x00, 0x10, 0xFF}, bytes.Repeat([]byte{0xFF}, P-5)...),
		"huge-af":      append([]byte{0x47, 0x41, 0x00, 0x30, 0xB7}, bytes.Repeat([]byte{0}, P-5)...),
		"opus-damaged": corruptByte(c, len(c)-2*P+30),
	}
}

// FuzzDemuxer feeds arbitrary bytes to the demuxer. It must not panic,
// must reach io.EOF in a number of calls bounded by the input size, and
// cannot return more payload than it was given.
func FuzzDemuxer(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := mpegts.NewDemuxer(bytes.NewReader(data))
		out := 0
		for calls := 0; ; calls++ {
			if calls > len(data)+2 {
				t.Fatalf("no io.EOF after %d calls on %d bytes", calls, len(data))
			}
			p, err := d.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, mpegts.ErrSync) && !errors.Is(err, mpegts.ErrCorrupt) && !errors.Is(err, mpegts.ErrTooLarge) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				continue
			}
			if out += len(p.Data); out > len(data) {
				t.Fatalf("%d payload bytes out of %d input bytes", out, len(data))
			}
			if p.Codec == media.CodecOpus {
				pkts, _ := mpegts.SplitOpus(p.Data)
				n := 0
				for _, k := range pkts {
					n += len(k)
				}
				if n > len(p.Data) {
					t.Fatalf("SplitOpus returned %d bytes from %d", n, len(p.Data))
				}
			}
		}
	})
}

// TestFuzzSeedCorpusIsCommitted keeps testdata/fuzz/FuzzDemuxer in step
// with fuzzSeeds; run with -update to rewrite it.
func TestFuzzSeedCorpusIsCommitted(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDemuxer")
	for name, b := range fuzzSeeds(t) {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		path := filepath.Join(dir, "seed-"+name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (%v); run go test -run TestFuzzSeedCorpusIsCommitted -update", path, err)
		}
	}
}
