package trust

import (
	"context"
	"math/big"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/transcode"
)

// heldTTL bounds how long credit stays held for a segment whose attempt
// ended without a word to the sealer (a broken connection, an answer the
// client refused): no orchestrator keeps a segment that long
// (remote.DefaultAttemptTimeout), so it holds nothing for it by then.
const heldTTL = time.Minute

// segmentHolds is the credit a sealer holds at its orchestrator for its
// segments in flight, one hold per segment from its payment until its
// answer or refusal. The orchestrator holds its own estimate of each
// segment it admitted (pm.Recipient.Reserve), so segments in flight at
// once must each pay for themselves.
type segmentHolds struct {
	mu sync.Mutex
	m  map[holdKey]heldSegment
}

type holdKey struct {
	stream string
	seq    uint64
}

type heldSegment struct {
	h  *pm.Held
	at time.Time
}

// payHeld pays for job and holds need for it until it ends.
func (s *sealer) payHeld(ctx context.Context, job transcode.Job, tp pm.TicketParams, ep pm.ExpirationParams, need *big.Int) (pm.Payment, error) {
	p, h, err := s.b.cfg.Sender.PayHeld(ctx, tp, ep, need)
	if err == nil {
		s.holds.keep(job, h, time.Now())
	}
	return p, err
}

// keep records job's hold, ending one left from an earlier attempt at it
// and those past heldTTL.
func (hs *segmentHolds) keep(job transcode.Job, h *pm.Held, now time.Time) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.m == nil {
		hs.m = map[holdKey]heldSegment{}
	}
	for k, old := range hs.m {
		if now.Sub(old.at) > heldTTL {
			old.h.Release()
			delete(hs.m, k)
		}
	}
	k := holdKey{job.Stream, job.Seq}
	hs.m[k].h.Release()
	hs.m[k] = heldSegment{h: h, at: now}
}

// release ends job's hold: it was answered (and debited) or refused.
func (hs *segmentHolds) release(job transcode.Job) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	k := holdKey{job.Stream, job.Seq}
	hs.m[k].h.Release()
	delete(hs.m, k)
}
