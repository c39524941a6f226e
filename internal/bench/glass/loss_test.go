package glass

import (
	"testing"
	"time"
)

func TestLossCounter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name string
		seqs []uint16
		ms   []int // arrival of each, from t0
		end  int   // snapshot time
		want LossCounts
	}{
		{"in order", []uint16{1, 2, 3}, []int{0, 1, 2}, 5000, LossCounts{Packets: 3}},
		{"a hole filled by a retransmission in time", []uint16{1, 3, 2}, []int{0, 1, 300}, 5000,
			LossCounts{Packets: 3, Gaps: 1, Recovered: 1}},
		{"a retransmission too late", []uint16{1, 3, 2}, []int{0, 1, 1500}, 5000,
			LossCounts{Packets: 3, Gaps: 1, Lost: 1}},
		{"never filled", []uint16{1, 4}, []int{0, 1}, 5000, LossCounts{Packets: 2, Gaps: 2, Lost: 2}},
		{"still waiting at the snapshot", []uint16{1, 3}, []int{0, 1}, 500, LossCounts{Packets: 2, Gaps: 1}},
		{"across the wrap", []uint16{65534, 65535, 1}, []int{0, 1, 2}, 5000, LossCounts{Packets: 3, Gaps: 1, Lost: 1}},
		{"a duplicate is not a recovery", []uint16{5, 6, 6}, []int{0, 1, 2}, 5000, LossCounts{Packets: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l lossCounter
			for i, s := range tc.seqs {
				l.add(s, at(tc.ms[i]))
			}
			if got := l.snapshot(at(tc.end)); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLossCounterBoundsAHugeHole(t *testing.T) {
	var l lossCounter
	now := time.Now()
	l.add(0, now)
	l.add(30000, now)
	got := l.snapshot(now)
	if got.Gaps != 29999 || got.Lost != 29999-maxPending || len(l.pending) != maxPending {
		t.Fatalf("got %+v with %d pending", got, len(l.pending))
	}
}
