package broadcaster

import (
	"slices"
	"time"
)

// turnaroundWindow is how many recent segments the turnaround figures
// cover.
const turnaroundWindow = 512

// turnarounds keeps the most recent segment turnarounds: from a segment's
// last byte at the broadcaster to every rendition of it published.
type turnarounds struct {
	ring  []time.Duration
	next  int
	count uint64
}

func (t *turnarounds) add(d time.Duration) {
	if len(t.ring) < turnaroundWindow {
		t.ring = append(t.ring, d)
	} else {
		t.ring[t.next] = d
		t.next = (t.next + 1) % turnaroundWindow
	}
	t.count++
}

// Turnaround summarises recent segment turnarounds, in milliseconds.
type Turnaround struct {
	// Segments is how many segments were measured in all; the quantiles
	// cover the most recent 512.
	Segments uint64  `json:"segments"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

func (t *turnarounds) summary() *Turnaround {
	if len(t.ring) == 0 {
		return nil
	}
	s := slices.Clone(t.ring)
	slices.Sort(s)
	return &Turnaround{Segments: t.count, P50: quantileMS(s, 0.50), P95: quantileMS(s, 0.95),
		P99: quantileMS(s, 0.99), Max: ms(s[len(s)-1])}
}

// recentMS returns the window's turnarounds in milliseconds, oldest first.
func (t *turnarounds) recentMS() []float64 {
	out := make([]float64, len(t.ring))
	for i := range t.ring {
		out[i] = ms(t.ring[(t.next+i)%len(t.ring)])
	}
	return out
}

// quantileMS is the nearest-rank quantile q of sorted s.
func quantileMS(s []time.Duration, q float64) float64 {
	i := int(q*float64(len(s))+0.999999) - 1
	return ms(s[max(0, min(i, len(s)-1))])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
