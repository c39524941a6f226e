package netpool

import (
	"math/big"
	"net/http"
	"slices"
	"time"

	"github.com/castnet/castnet/internal/httpx"
)

// NodeState is what the pool knows of one orchestrator, as
// GET /api/orchestrators reports it.
type NodeState struct {
	URL string `json:"url"`
	// Origin is "static" (Config.URLs) or "webhook".
	Origin   string `json:"origin"`
	Eligible bool   `json:"eligible"`
	// WhyNot says why it is not eligible; "" when it is.
	WhyNot string `json:"why_not"`
	// Protocol, PricePerPixel (wei, decimal), Capacity and Free are from
	// its last good /api/info; empty or zero before one.
	Protocol      string `json:"protocol"`
	PricePerPixel string `json:"price_per_pixel"`
	Capacity      int    `json:"capacity"`
	Free          int    `json:"free"`
	// ProbedAt is its last probe, good or bad; nil before one. ProbeError
	// is that probe's failure, "" when it answered.
	ProbedAt   *time.Time `json:"probed_at"`
	ProbeError string     `json:"probe_error"`
	// SegmentsOK and SegmentsFailed count its attempts over every stream.
	SegmentsOK     uint64 `json:"segments_ok"`
	SegmentsFailed uint64 `json:"segments_failed"`
	// LatencyScore ranks it (see the package doc); lower is better.
	LatencyScore float64 `json:"latency_score"`
	// Streams are the streams stuck to it; SuspendedFor those it is
	// suspended for. Both sorted.
	Streams      []string `json:"streams"`
	SuspendedFor []string `json:"suspended_for"`
}

// Snapshot returns the state of every known orchestrator in discovery
// order.
func (p *Pool) Snapshot() []NodeState {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]NodeState, 0, len(p.nodes))
	for _, n := range p.nodes {
		s := NodeState{URL: n.url, Origin: n.origin, Eligible: n.eligible, WhyNot: n.whyNot,
			ProbeError: n.probeErr, SegmentsOK: n.ok, SegmentsFailed: n.failed,
			LatencyScore: n.score(p.cfg.SegmentDuration, p.cfg.AttemptTimeout),
			Streams:      []string{}, SuspendedFor: []string{}}
		if !n.probedAt.IsZero() {
			t := n.probedAt
			s.ProbedAt = &t
		}
		if n.info != nil {
			s.Protocol, s.PricePerPixel = n.info.Protocol, n.info.PricePerPixel.String()
			s.Capacity, s.Free = n.info.Capacity, n.info.Free
		}
		for name, st := range p.streams {
			if st.current == n.url {
				s.Streams = append(s.Streams, name)
			}
			if st.isSuspended(n.url, now) {
				s.SuspendedFor = append(s.SuspendedFor, name)
			}
		}
		slices.Sort(s.Streams)
		slices.Sort(s.SuspendedFor)
		out = append(out, s)
	}
	return out
}

// Handler serves GET /api/orchestrators: the Snapshot as a JSON array.
func (p *Pool) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/orchestrators", httpx.JSON(p.log, func() any { return p.Snapshot() }))
	return mux
}

// MinPrice is the lowest price per pixel among eligible orchestrators, or
// nil when none is eligible yet.
func (p *Pool) MinPrice() *big.Int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var low *big.Int
	for _, n := range p.nodes {
		if n.eligible && n.info != nil && n.info.PricePerPixel != nil &&
			(low == nil || n.info.PricePerPixel.Cmp(low) < 0) {
			low = n.info.PricePerPixel
		}
	}
	if low == nil {
		return nil
	}
	return new(big.Int).Set(low)
}
