package media

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// fakeClock is a hand-driven clock for tests.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time      { return c.t }
func (c *fakeClock) Add(d time.Duration) { c.t = c.t.Add(d) }

// step is one event of a reorder scenario: a packet arrives or time passes.
type step struct {
	seq  int // pushed when wait is 0
	wait time.Duration
}

func seqs(ns ...int) []step {
	out := make([]step, len(ns))
	for i, n := range ns {
		out[i] = step{seq: n}
	}
	return out
}

func wait(d time.Duration) step { return step{wait: d} }

// runReorder plays the steps, popping everything ready after each, and
// returns what came out: sequence numbers, with "lost N" before a skip.
func runReorder(t *testing.T, size int, steps []step) ([]string, *ReorderBuffer) {
	t.Helper()
	clock := newFakeClock()
	b := NewReorderBuffer(size, 50*time.Millisecond, clock.Now)
	var out []string
	for _, s := range steps {
		if s.wait > 0 {
			clock.Add(s.wait)
		} else {
			b.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(s.seq)}})
		}
		for {
			pkt, lost := b.Pop()
			if pkt == nil {
				break
			}
			if lost > 0 {
				out = append(out, "lost "+strconv.Itoa(lost))
			}
			out = append(out, strconv.Itoa(int(pkt.SequenceNumber)))
		}
	}
	return out, b
}

func TestReorderBuffer(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		size  int
		steps []step
		want  []string
	}{
		{"in-order packets pass straight through", 8, seqs(1, 2, 3), []string{"1", "2", "3"}},
		{"a swapped pair is put back in order", 8, seqs(1, 3, 2, 4), []string{"1", "2", "3", "4"}},
		{"duplicates are dropped", 8, seqs(1, 1, 3, 3, 2, 2), []string{"1", "2", "3"}},
		{"a hole filled before the deadline loses nothing", 8,
			append(seqs(1, 3), wait(40*ms), step{seq: 2}), []string{"1", "2", "3"}},
		{"a hole not filled within maxDelay is skipped", 8,
			append(seqs(1, 3, 4), wait(50*ms)), []string{"1", "lost 1", "3", "4"}},
		{"a packet arriving after its hole was skipped is dropped", 8,
			append(append(seqs(1, 3), wait(60*ms)), seqs(2, 4)...), []string{"1", "lost 1", "3", "4"}},
		{"the wait counts from the first packet behind the hole", 8,
			append(append(seqs(1, 4), wait(30*ms), step{seq: 3}), wait(20*ms)), []string{"1", "lost 1", "3", "4"}},
		{"a full window slides forward and reports the loss", 4, seqs(1, 3, 4, 5, 6), []string{"1", "lost 1", "3", "4", "5", "6"}},
		{"a far jump slides the window, then waits for the rest as usual", 4,
			append(seqs(1, 3, 100), wait(50*ms)), []string{"1", "lost 1", "3", "lost 96", "100"}},
		{"sequence numbers wrap in order", 8, seqs(65534, 65535, 0, 1), []string{"65534", "65535", "0", "1"}},
		{"sequence numbers wrap out of order", 8, seqs(65534, 0, 65535, 1), []string{"65534", "65535", "0", "1"}},
		{"a hole across the wrap is skipped", 8, append(seqs(65535, 1), wait(50*ms)), []string{"65535", "lost 1", "1"}},
		{"a sender restarting its numbers is followed", 2, seqs(5000, 5001, 10, 11, 12, 13), []string{"5000", "5001", "12", "13"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := runReorder(t, tt.size, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("popped %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReorderBufferStats(t *testing.T) {
	_, b := runReorder(t, 8, append(seqs(1, 3, 3, 4), wait(time.Second), step{seq: 2}, step{seq: 1}))
	want := ReorderStats{Pushed: 6, Duplicates: 1, Late: 2, Lost: 1}
	if got := b.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	if b.Len() != 0 {
		t.Fatalf("Len() = %d after everything was popped", b.Len())
	}
}

func TestReorderBufferDeadline(t *testing.T) {
	clock := newFakeClock()
	b := NewReorderBuffer(8, 50*time.Millisecond, clock.Now)
	b.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: 1}})
	b.Pop()
	if _, ok := b.Deadline(); ok {
		t.Fatal("Deadline() ok with nothing waiting")
	}
	start := clock.Now()
	b.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: 3}})
	clock.Add(10 * time.Millisecond)
	b.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: 4}})
	if d, ok := b.Deadline(); !ok || !d.Equal(start.Add(50*time.Millisecond)) {
		t.Fatalf("Deadline() = %v, %v; want %v", d, ok, start.Add(50*time.Millisecond))
	}
}

func reorderFuzzSeeds() [][]byte {
	return [][]byte{
		{1, 0, 3, 0, 2, 0, 0xff, 0xff, 0, 0},
		{0xfe, 0xff, 0x01, 0x00, 0xff, 0xff, 0x80, 0x00},
		{1, 0, 2, 0, 40, 0, 3, 0, 7, 0, 9, 0, 8, 0},
	}
}

// FuzzReorderBuffer feeds little-endian sequence numbers; every seventh
// number (by value) lets 30 ms pass.
func FuzzReorderBuffer(f *testing.F) {
	for _, s := range reorderFuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const size = 16
		clock := newFakeClock()
		b := NewReorderBuffer(size, 50*time.Millisecond, clock.Now)
		var prev uint16
		popped := false
		for i := 0; i+1 < len(data); i += 2 {
			seq := uint16(data[i]) | uint16(data[i+1])<<8
			if seq%7 == 0 {
				clock.Add(30 * time.Millisecond)
			}
			restarts := b.Stats().Restarts
			b.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}})
			restarted := b.Stats().Restarts != restarts
			for pkt, _ := b.Pop(); pkt != nil; pkt, _ = b.Pop() {
				// Popped numbers always move forward from the one
				// after the last (up to half the number space), so
				// nothing is returned twice, unless the sender restarted.
				s := pkt.SequenceNumber
				if popped && !restarted && int16(s-(prev+1)) < 0 {
					t.Fatalf("popped %d after %d", s, prev)
				}
				prev, popped = s, true
			}
			if b.Len() > 2*size {
				t.Fatalf("buffer holds %d packets for a window of %d", b.Len(), size)
			}
		}
	})
}
