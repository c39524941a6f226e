package segment_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/segment"
)

// TestConcurrentReadersSeeIdenticalBytes starts readers the moment each
// segment opens, in three styles (io.Copy via WriteTo, one byte at a time,
// and with a context), while the writer keeps writing. Run with -race.
func TestConcurrentReadersSeeIdenticalBytes(t *testing.T) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[uint64][][]byte{}
	read := func(g *segment.Segment, r io.Reader) {
		defer wg.Done()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		got[g.Seq] = append(got[g.Seq], b)
		mu.Unlock()
	}
	var segs []*segment.Segment
	s, err := segment.New(segment.Config{
		Video: media.CodecH264, Audio: media.CodecOpus,
		OnSegment: func(g *segment.Segment) {
			segs = append(segs, g)
			wg.Add(4)
			go read(g, g.NewReader())
			go read(g, iotest.OneByteReader(g.NewReader()))
			go read(g, g.NewReaderContext(context.Background()))
			go func() {
				defer wg.Done()
				var buf bytes.Buffer
				if _, err := io.Copy(&buf, g.NewReader()); err != nil {
					t.Error(err)
				}
				mu.Lock()
				got[g.Seq] = append(got[g.Seq], buf.Bytes())
				mu.Unlock()
			}()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	aus := interleave(videoStream(ms(7000), every(time.Second, ms(7000))...), audioStream(ms(7000)))
	for i, au := range aus {
		if err := s.Write(au); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // let readers catch up and block mid-segment
		}
	}
	s.Close()
	wg.Wait()
	if len(segs) != 4 {
		t.Fatalf("%d segments, want 4", len(segs))
	}
	for _, g := range segs {
		want := g.Bytes()
		if len(got[g.Seq]) != 4 {
			t.Fatalf("segment %d: %d readers finished, want 4", g.Seq, len(got[g.Seq]))
		}
		for i, b := range got[g.Seq] {
			if !bytes.Equal(b, want) {
				t.Errorf("segment %d reader %d: %d bytes differ from the segment's %d", g.Seq, i, len(b), len(want))
			}
		}
	}
}

func TestReaderFollowsTheSegmentToItsEnd(t *testing.T) {
	var g *segment.Segment
	s, err := segment.New(segment.Config{Video: media.CodecH264, OnSegment: func(x *segment.Segment) { g = x }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(videoUnit(0, true, 100)); err != nil {
		t.Fatal(err)
	}
	r := g.NewReader()
	first := make([]byte, 1<<16)
	n, err := r.Read(first)
	if err != nil || n != g.Len() {
		t.Fatalf("first read: %d bytes, %v; want the %d written", n, err, g.Len())
	}
	// The reader is at the end of what exists; its next Read waits for
	// the next frame rather than reporting EOF.
	type result struct {
		n   int
		err error
	}
	next := make(chan result)
	go func() {
		n, err := r.Read(make([]byte, 1<<16))
		next <- result{n, err}
	}()
	if err := s.Write(videoUnit(ms(33), false, 100)); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-next:
		if res.err != nil || res.n == 0 {
			t.Fatalf("read after the segment grew: %d bytes, %v", res.n, res.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reader did not wake when the segment grew")
	}
	s.Close()
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("ReadAll after Close: %v", err)
	}
	if n, err := r.Read(first); n != 0 || err != io.EOF {
		t.Errorf("read after the end: %d, %v; want io.EOF", n, err)
	}
}

func TestReaderContextEndsABlockedRead(t *testing.T) {
	var g *segment.Segment
	s, err := segment.New(segment.Config{Video: media.CodecH264, OnSegment: func(x *segment.Segment) { g = x }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(videoUnit(0, true, 100)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := io.Copy(io.Discard, g.NewReaderContext(ctx))
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled reader still blocked")
	}
}

// TestEachSegmentStartsWithTablesThenIDR checks the bytes: PAT, PMT, then
// the IDR's PES with random_access_indicator, in every segment.
func TestEachSegmentStartsWithTablesThenIDR(t *testing.T) {
	aus := interleave(videoStream(ms(6000), every(time.Second, ms(6000))...), audioStream(ms(6000)))
	segs, _ := run(t, segment.Config{Video: media.CodecH264, Audio: media.CodecOpus}, aus)
	for _, g := range segs {
		b := g.Bytes()
		pid := func(i int) uint16 {
			p := b[i*mpegts.PacketSize:]
			return uint16(p[1]&0x1F)<<8 | uint16(p[2])
		}
		if len(b)%mpegts.PacketSize != 0 || pid(0) != mpegts.PIDPAT || pid(1) != mpegts.PIDPMT || pid(2) != mpegts.PIDVideo {
			t.Fatalf("segment %d starts with PIDs %#x %#x %#x", g.Seq, pid(0), pid(1), pid(2))
		}
		// The first video PES comes out of the demuxer only when the second
		// starts, so audio may precede it; look for it.
		d := mpegts.NewDemuxer(bytes.NewReader(b))
		p, err := d.Next()
		for err == nil && p.PID != mpegts.PIDVideo {
			p, err = d.Next()
		}
		if err != nil || !p.RandomAccess || p.PTS != g.Start+segment.TimestampOffset {
			t.Fatalf("segment %d first PES %+v, %v; want the IDR at %v", g.Seq, p, err, g.Start+segment.TimestampOffset)
		}
	}
}
