// Package clock is the time a component reads and the timers it arms,
// injected through its Config so that tests move time by hand (Fake)
// instead of sleeping on the wall clock. Production code uses Real.
//
// It holds only what its users need: Now, AfterFunc and NewTicker. A
// timer's function, rather than a channel, is what fires: Fake calls it
// before Advance returns, so a test knows everything due has happened.
package clock

import "time"

// Clock tells the time and arms timers.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// AfterFunc calls f once d has passed, unless the Timer is stopped
	// first.
	AfterFunc(d time.Duration, f func()) Timer
	// NewTicker sends the time on its channel every d, dropping ticks a
	// slow reader misses, as time.NewTicker does. d must be positive.
	NewTicker(d time.Duration) Ticker
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not happened yet, and reports
	// whether it did so.
	Stop() bool
}

// Ticker delivers ticks until stopped.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Real is the wall clock, through package time.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc: f runs in its own goroutine.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// NewTicker is time.NewTicker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// Or returns c, or Real when c is nil: a Config's zero value means the
// wall clock.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}
