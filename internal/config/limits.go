package config

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/playback/whep"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// Limits bound what peers may hold of a node: its HTTP connections and, at
// an orchestrator, how long a segment upload may take (docs/operations.md,
// "Limits").
type Limits struct {
	// MaxConns caps the HTTP connections open at once (0: the default,
	// -1: no cap); more wait to be accepted.
	MaxConns int
	// InputIdle is the longest an orchestrator waits for a segment's next
	// byte (0: remote.DefaultInputIdle).
	InputIdle time.Duration
	// AttemptTimeout bounds one segment at `castnet orchestrator`, upload
	// and answer (0: remote.DefaultAttemptTimeout); dev derives its own
	// from -segment.
	AttemptTimeout time.Duration
	// MaxViewers and MaxStreamViewers cap the WHEP viewers of the node and
	// of one stream (0: no cap); more are answered 503 with Retry-After.
	MaxViewers, MaxStreamViewers int
}

// addLimitFlags adds the limits that apply to role.
func addLimitFlags(fs *flag.FlagSet, l *Limits, role string) {
	fs.IntVar(&l.MaxConns, "max-conns", httpx.DefaultMaxConns, "most HTTP connections open at once; more wait to be accepted (-1: no cap)")
	if role == "dev" || role == "broadcaster" {
		fs.IntVar(&l.MaxViewers, "max-node-viewers", whep.DefaultMaxViewers, "most WHEP viewers of the node at once; more get 503 (0: no cap)")
		fs.IntVar(&l.MaxStreamViewers, "max-viewers", whep.DefaultMaxStreamViewers, "most WHEP viewers of one stream at once; more get 503 (0: no cap)")
	}
	if role == "broadcaster" {
		return
	}
	fs.DurationVar(&l.InputIdle, "input-idle", remote.DefaultInputIdle, "cut off a segment upload (408) after this long without a byte, freeing its slot")
	if role == "orchestrator" {
		fs.DurationVar(&l.AttemptTimeout, "attempt-timeout", remote.DefaultAttemptTimeout, "cut off a segment (408, or 504 once uploaded) this long after its request began; allow 3x the broadcasters' segment duration + 10s")
	}
}

func (l Limits) check() error {
	var errs []error
	if l.MaxConns < -1 || l.MaxConns == 0 {
		errs = append(errs, fmt.Errorf("-max-conns %d: want 1 or more, or -1 for no cap", l.MaxConns))
	}
	if l.MaxViewers < 0 || l.MaxStreamViewers < 0 {
		errs = append(errs, fmt.Errorf("-max-node-viewers %d, -max-viewers %d: want 0 (no cap) or more", l.MaxViewers, l.MaxStreamViewers))
	}
	if l.InputIdle < 0 || l.InputIdle > 0 && l.InputIdle < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("-input-idle %s: want 100ms or more", l.InputIdle))
	}
	if l.AttemptTimeout < 0 || l.AttemptTimeout > 0 && l.AttemptTimeout < time.Second {
		errs = append(errs, fmt.Errorf("-attempt-timeout %s: want 1s or more", l.AttemptTimeout))
	}
	return errors.Join(errs...)
}
