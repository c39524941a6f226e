package netpool

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/castnet/castnet/internal/transcode"
)

// streamState is what the pool remembers of one stream. Guarded by Pool.mu.
type streamState struct {
	current   string  // URL of the node the stream sticks to; "" before the first
	score     float64 // smoothed latency on current, in segments
	scored    bool
	suspended map[string]time.Time // node URL → end of its suspension for this stream
	lastSeen  time.Time
	running   map[*running]struct{} // attempts in flight
}

// running is an attempt in flight, which a failure of its node for the same
// stream abandons.
type running struct {
	url    string
	cancel context.CancelCauseFunc
	// last marks the last resort of its segment: with nowhere else to go,
	// it is never abandoned.
	last bool
}

func (s *streamState) isSuspended(u string, now time.Time) bool {
	return now.Before(s.suspended[u])
}

// candidate is an eligible node with what ranks it for one stream.
type candidate struct {
	node      *node
	suspended bool // for this stream
	unhealthy bool // its last probe failed
	full      bool // its last info reported free == 0
	score     float64
}

// compareCandidates orders candidates as the package doc says: not
// suspended, healthy, with free slots, then by score.
func compareCandidates(a, b candidate) int {
	return cmp.Or(
		cmpFalseFirst(a.suspended, b.suspended),
		cmpFalseFirst(a.unhealthy, b.unhealthy),
		cmpFalseFirst(a.full, b.full),
		cmp.Compare(a.score, b.score),
	)
}

func cmpFalseFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// rank sorts candidates best first; ties keep their order.
func rank(cs []candidate) { slices.SortStableFunc(cs, compareCandidates) }

// plan returns the nodes to try for job, best first, and why the others
// are left out. It moves the stream to the best node when its current one
// no longer performs.
func (p *Pool) plan(job transcode.Job, now time.Time) ([]*node, []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(now)
	st := p.stream(job.Stream, now)
	var cs []candidate
	var left []error
	for _, n := range p.nodes {
		if !n.eligible {
			left = append(left, fmt.Errorf("%s: %w: %s", n.url, ErrIneligible, n.whyNot))
			continue
		}
		cs = append(cs, candidate{node: n, suspended: st.isSuspended(n.url, now), unhealthy: n.probeErr != "",
			full: n.info != nil && n.info.Free == 0, score: n.score(p.cfg.SegmentDuration, p.cfg.AttemptTimeout)})
	}
	rank(cs)
	keep, why := p.performing(st, now)
	order := make([]*node, 0, len(cs))
	if keep {
		order = append(order, p.byURL[st.current])
	}
	for _, c := range cs {
		if !keep || c.node.url != st.current {
			order = append(order, c.node)
		}
	}
	if !keep && len(order) > 0 {
		p.moveStream(job, st, order[0], why)
	}
	return order, left
}

// performing reports whether the stream should stay on its current node,
// and if not, why.
func (p *Pool) performing(st *streamState, now time.Time) (bool, string) {
	if st.current == "" {
		return false, ""
	}
	n := p.byURL[st.current]
	switch {
	case n == nil:
		return false, "its orchestrator left the list"
	case !n.eligible:
		return false, "its orchestrator is not eligible: " + n.whyNot
	case st.isSuspended(n.url, now):
		return false, "its orchestrator is suspended for it"
	case st.scored && st.score >= 1:
		return false, fmt.Sprintf("latency score %.2f is not under 1", st.score)
	}
	return true, ""
}

// moveStream sticks the stream to n, logging the choice or the move.
func (p *Pool) moveStream(job transcode.Job, st *streamState, n *node, why string) {
	if st.current == n.url {
		return
	}
	if st.current == "" {
		p.log.Info("orchestrator chosen for stream", "stream", job.Stream, "seq", job.Seq, "orchestrator", n.url)
	} else {
		p.log.Info("stream moved to another orchestrator", "stream", job.Stream, "seq", job.Seq,
			"orchestrator", n.url, "from", st.current, "reason", why)
	}
	st.current, st.score, st.scored = n.url, 0, false
}

// stream returns the state of the named stream, creating it.
func (p *Pool) stream(name string, now time.Time) *streamState {
	st := p.streams[name]
	if st == nil {
		st = &streamState{suspended: map[string]time.Time{}, running: map[*running]struct{}{}}
		p.streams[name] = st
	}
	st.lastSeen = now
	return st
}

// prune forgets streams unseen for StreamTTL and expired suspensions, at
// most every tenth of StreamTTL (and at least every minute).
func (p *Pool) prune(now time.Time) {
	if now.Sub(p.lastPrune) < min(p.cfg.StreamTTL/10, time.Minute) {
		return
	}
	p.lastPrune = now
	for name, st := range p.streams {
		if now.Sub(st.lastSeen) > p.cfg.StreamTTL {
			delete(p.streams, name)
			continue
		}
		for u, until := range st.suspended {
			if !now.Before(until) {
				delete(st.suspended, u)
			}
		}
	}
}

// succeeded records a checked answer of n for job that took lat past the
// end of its input.
func (p *Pool) succeeded(job transcode.Job, n *node, lat time.Duration, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n.recordOutcome(false)
	smooth(&n.latency, &n.hasLatency, lat.Seconds())
	st := p.streams[job.Stream]
	if st == nil {
		return // forgotten while the segment was in flight
	}
	if st.current != n.url {
		keep, why := p.performing(st, now)
		if keep {
			return // a late answer from a node the stream has left
		}
		p.moveStream(job, st, n, "failover: "+why)
	}
	smooth(&st.score, &st.scored, lat.Seconds()/p.cfg.SegmentDuration.Seconds())
}

// failedSegment records n's failure at job: it counts against n and
// suspends n for the stream.
func (p *Pool) failedSegment(job transcode.Job, n *node, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n.recordOutcome(true)
	if st := p.streams[job.Stream]; st != nil {
		st.suspended[n.url] = now.Add(p.cfg.Suspend)
		// The stream's other segments there are likely lost the same way:
		// move them now rather than at their own deadlines.
		for r := range st.running {
			if r.url == n.url && !r.last {
				r.cancel(ErrAbandoned)
			}
		}
	}
}

// suspendedFor reports whether n is suspended for stream now.
func (p *Pool) suspendedFor(stream string, n *node) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.streams[stream]
	return st != nil && st.isSuspended(n.url, p.clock.Now())
}

// track registers an attempt of job's stream at n until the returned func
// is called.
func (p *Pool) track(job transcode.Job, n *node, last bool, cancel context.CancelCauseFunc) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stream(job.Stream, p.clock.Now())
	r := &running{url: n.url, cancel: cancel, last: last}
	st.running[r] = struct{}{}
	return func() {
		p.mu.Lock()
		delete(st.running, r)
		p.mu.Unlock()
	}
}
