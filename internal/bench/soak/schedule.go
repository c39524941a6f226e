package soak

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Ending is how a soak publisher stops.
type Ending int

// The three ways a publisher leaves, from the polite to the rude.
const (
	// EndClean publishes for its life, then ends the WHIP session with a
	// DELETE (publish.Publish returning at Duration).
	EndClean Ending = iota
	// EndDropped is cancelled early and its DELETE is withheld: the node
	// sees only the PeerConnection close (a DTLS close_notify), as when a
	// browser tab is closed.
	EndDropped
	// EndKilled is a `castnet publish` child killed with SIGKILL: no
	// DELETE and no close at all, so the node only notices when ICE
	// consent times out, as with a publisher that lost its network.
	EndKilled
)

// String names the ending as the tables and JSON do.
func (e Ending) String() string {
	switch e {
	case EndClean:
		return "clean"
	case EndDropped:
		return "dropped"
	case EndKilled:
		return "killed"
	}
	return fmt.Sprintf("ending(%d)", int(e))
}

// MarshalText writes the ending's name.
func (e Ending) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// Spawn is one publisher of the soak's schedule.
type Spawn struct {
	// Name is the stream name; names are reused once free (see Schedule).
	Name string `json:"name"`
	// At is when it starts, from the start of the soak.
	At time.Duration `json:"at_ns"`
	// Life is how long it publishes before it ends.
	Life time.Duration `json:"life_ns"`
	End  Ending        `json:"end"`
}

// Plan shapes a schedule.
type Plan struct {
	Seed uint64
	// Slots is the number of publishers live at once: each slot starts a
	// new publisher as soon as its last one's life is over.
	Slots int
	// MinLife and MaxLife bound each life, drawn uniformly.
	MinLife, MaxLife time.Duration
	// Total is the soak's length; no spawn starts at or after it.
	Total time.Duration
	// Ramp spreads the slots' first starts over this long, so that the
	// node is not handed every offer in the same instant.
	Ramp time.Duration
	// ReuseGap is how long a name rests after its publisher's life before
	// another may take it: long enough for the node to notice a killed
	// publisher (ICE failure) so the new one is not refused as a duplicate.
	ReuseGap time.Duration
	// Dropped and Killed are the shares of EndDropped and EndKilled
	// endings (the rest are EndClean).
	Dropped, Killed float64
}

// Schedule draws a soak schedule from p, sorted by start. The same Plan
// always gives the same schedule (math/rand/v2 PCG seeded with p.Seed), so
// two runs put the node through the same comings and goings. Stream names
// come from a pool that grows only when every name is still resting: real
// publishers reuse their stream keys, and the node keeps a record of every
// name it has seen, so fresh names for every session would measure that
// registry, by design, rather than leaks.
func Schedule(p Plan) []Spawn {
	if p.Slots <= 0 || p.Total <= 0 || p.MinLife <= 0 || p.MaxLife < p.MinLife {
		return nil
	}
	rng := rand.New(rand.NewPCG(p.Seed, p.Seed^0x50a4))
	var out []Spawn
	for slot := range p.Slots {
		at := p.Ramp * time.Duration(slot) / time.Duration(p.Slots)
		for at < p.Total {
			life := p.MinLife + time.Duration(rng.Int64N(int64(p.MaxLife-p.MinLife)+1))
			out = append(out, Spawn{At: at, Life: life, End: drawEnding(rng, p.Dropped, p.Killed)})
			at += life
		}
	}
	slices.SortStableFunc(out, func(a, b Spawn) int { return int(a.At - b.At) })
	nameSpawns(out, p.ReuseGap)
	return out
}

func drawEnding(rng *rand.Rand, dropped, killed float64) Ending {
	switch x := rng.Float64(); {
	case x < killed:
		return EndKilled
	case x < killed+dropped:
		return EndDropped
	}
	return EndClean
}

// nameSpawns gives each spawn (sorted by start) the first pooled name
// that has rested for gap, or a new one.
func nameSpawns(spawns []Spawn, gap time.Duration) {
	var freeAt []time.Duration // by name index
	for i := range spawns {
		s := &spawns[i]
		k := slices.IndexFunc(freeAt, func(t time.Duration) bool { return t <= s.At })
		if k < 0 {
			k = len(freeAt)
			freeAt = append(freeAt, 0)
		}
		freeAt[k] = s.At + s.Life + gap
		s.Name = fmt.Sprintf("soak-%03d", k)
	}
}

// Names counts the distinct stream names of a schedule.
func Names(spawns []Spawn) int {
	seen := map[string]bool{}
	for _, s := range spawns {
		seen[s.Name] = true
	}
	return len(seen)
}
