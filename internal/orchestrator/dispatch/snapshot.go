package dispatch

import (
	"cmp"
	"slices"
	"time"
)

// Snapshot is the Pool's state for an operator's API.
type Snapshot struct {
	Capacity    int              `json:"capacity"`
	Free        int              `json:"free"`
	Transcoders []TranscoderInfo `json:"transcoders"`
	Jobs        []JobInfo        `json:"jobs"`
}

// TranscoderInfo describes one connected transcoder.
type TranscoderInfo struct {
	ID             string    `json:"id"`
	Name           string    `json:"name,omitempty"`
	Remote         string    `json:"remote"`
	Capacity       int       `json:"capacity"`
	Busy           int       `json:"busy"`
	ConnectedSince time.Time `json:"connected_since"`
	JobsDone       uint64    `json:"jobs_done"`
	JobsFailed     uint64    `json:"jobs_failed"`
	JobsLost       uint64    `json:"jobs_lost"`
}

// JobInfo describes one dispatch in flight.
type JobInfo struct {
	Job          string    `json:"job"`
	Stream       string    `json:"stream"`
	Seq          uint64    `json:"seq"`
	Transcoder   string    `json:"transcoder"`
	Dispatch     int       `json:"dispatch"` // 1 for the first, 2 for the first re-dispatch…
	DispatchedAt time.Time `json:"dispatched_at"`
	PickedUp     bool      `json:"picked_up"`
	InputBytes   int64     `json:"input_bytes"`
}

// Snapshot returns the connected transcoders, oldest first, and the jobs
// in flight, oldest first.
func (p *Pool) Snapshot() Snapshot {
	p.mu.Lock()
	s := Snapshot{Transcoders: make([]TranscoderInfo, 0, len(p.ts)), Jobs: make([]JobInfo, 0, len(p.attempts))}
	for _, t := range p.ts {
		s.Capacity += t.capacity
		s.Free += t.capacity - t.busy
		s.Transcoders = append(s.Transcoders, TranscoderInfo{ID: t.id, Name: t.name, Remote: t.remote,
			Capacity: t.capacity, Busy: t.busy, ConnectedSince: t.since,
			JobsDone: t.done, JobsFailed: t.failed, JobsLost: t.lostJobs})
	}
	attempts := make([]*attempt, 0, len(p.attempts))
	for _, a := range p.attempts {
		attempts = append(attempts, a)
	}
	p.mu.Unlock()
	for _, a := range attempts { // buffer sizes take the buffer's own lock
		s.Jobs = append(s.Jobs, JobInfo{Job: a.id, Stream: a.job.Stream, Seq: a.job.Seq, Transcoder: a.t.id,
			Dispatch: a.n + 1, DispatchedAt: a.start, PickedUp: a.pickedUp(), InputBytes: a.buf.size()})
	}
	slices.SortFunc(s.Transcoders, func(a, b TranscoderInfo) int {
		return cmp.Or(a.ConnectedSince.Compare(b.ConnectedSince), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(s.Jobs, func(a, b JobInfo) int {
		return cmp.Or(a.DispatchedAt.Compare(b.DispatchedAt), cmp.Compare(a.Job, b.Job))
	})
	return s
}

func (a *attempt) pickedUp() bool {
	select {
	case <-a.picked:
		return true
	default:
		return false
	}
}
