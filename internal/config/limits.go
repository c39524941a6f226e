package config

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/castnet/castnet/internal/httpx"
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
}

// addLimitFlags adds the limits that apply to role.
func addLimitFlags(fs *flag.FlagSet, l *Limits, role string) {
	fs.IntVar(&l.MaxConns, "max-conns", httpx.DefaultMaxConns, "most HTTP connections open at once; more wait to be accepted (-1: no cap)")
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
	if l.InputIdle < 0 || l.InputIdle > 0 && l.InputIdle < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("-input-idle %s: want 100ms or more", l.InputIdle))
	}
	if l.AttemptTimeout < 0 || l.AttemptTimeout > 0 && l.AttemptTimeout < time.Second {
		errs = append(errs, fmt.Errorf("-attempt-timeout %s: want 1s or more", l.AttemptTimeout))
	}
	return errors.Join(errs...)
}
