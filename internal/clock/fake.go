package clock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Fake is a Clock for tests: its time moves only by Advance, which fires
// every timer and ticker falling due on the way, in order of their due
// times (of arming, among equals). It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	pending []*fakeTimer  // in arming order
	changed chan struct{} // closed at every arming, stop or advance
}

var _ Clock = (*Fake)(nil)

// fakeTimer is an AfterFunc (f set) or a ticker (period set). Its fields
// are guarded by Fake.mu.
type fakeTimer struct {
	clock  *Fake
	due    time.Time
	f      func()
	period time.Duration
	c      chan time.Time
}

// NewFake returns a Fake whose time is start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake's time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc arms fn to run d from now. It runs in the goroutine that calls
// Advance, before Advance returns, so fn must not wait for that goroutine.
// A d of zero or less falls due at once, and runs at the next Advance.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	return f.arm(&fakeTimer{clock: f, f: fn}, d)
}

// NewTicker returns a ticker whose channel (of capacity one, like
// time.Ticker's) gets the fake's time every d of Advance.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	return fakeTicker{f.arm(&fakeTimer{clock: f, period: d, c: make(chan time.Time, 1)}, d)}
}

func (f *Fake) arm(t *fakeTimer, d time.Duration) *fakeTimer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.due = f.now.Add(d)
	f.pending = append(f.pending, t)
	f.notify()
	return t
}

// notify wakes BlockUntilDue. The caller holds f.mu.
func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Advance moves the time forward by d, stopping at each due timer on the
// way to fire it: timers armed by what fires are fired too when they fall
// due within d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	for {
		t := f.next(target)
		if t == nil {
			break
		}
		f.now = t.due
		if t.f == nil {
			f.tick(t)
			continue
		}
		f.remove(t)
		f.mu.Unlock()
		t.f()
		f.mu.Lock()
	}
	if target.After(f.now) {
		f.now = target
	}
	f.notify()
	f.mu.Unlock()
}

// next returns the pending timer due first, if it is due by target. The
// caller holds f.mu.
func (f *Fake) next(target time.Time) *fakeTimer {
	var first *fakeTimer
	for _, t := range f.pending {
		if first == nil || t.due.Before(first.due) {
			first = t
		}
	}
	if first == nil || first.due.After(target) {
		return nil
	}
	return first
}

// tick sends the time to a ticker's channel unless a tick is already
// waiting there, and rearms it. The caller holds f.mu.
func (f *Fake) tick(t *fakeTimer) {
	select {
	case t.c <- f.now:
	default:
	}
	t.due = t.due.Add(t.period)
	// Rearmed timers go last among equals, as if armed anew.
	f.remove(t)
	f.pending = append(f.pending, t)
}

// remove drops t from the pending timers and reports whether it was
// there. The caller holds f.mu.
func (f *Fake) remove(t *fakeTimer) bool {
	i := slices.Index(f.pending, t)
	if i < 0 {
		return false
	}
	f.pending = slices.Delete(f.pending, i, i+1)
	return true
}

// Pending returns how long from now each armed timer and ticker falls due,
// soonest first.
func (f *Fake) Pending() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pendingLocked()
}

func (f *Fake) pendingLocked() []time.Duration {
	out := make([]time.Duration, 0, len(f.pending))
	for _, t := range f.pending {
		out = append(out, t.due.Sub(f.now))
	}
	slices.Sort(out)
	return out
}

// BlockUntilDue waits until a timer or ticker is armed that falls due d
// from now, so that Advance(d) will fire it, or until ctx ends. It lets a
// test wait for the code under test to reach its timer instead of sleeping.
func (f *Fake) BlockUntilDue(ctx context.Context, d time.Duration) error {
	for {
		f.mu.Lock()
		found, changed := slices.Contains(f.pendingLocked(), d), f.changed
		f.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Stop disarms the timer or ticker; for a timer it reports whether its
// function had not been called yet.
func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if !t.clock.remove(t) {
		return false
	}
	t.clock.notify()
	return true
}

// fakeTicker is a ticking fakeTimer as a Ticker.
type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.c }
func (k fakeTicker) Stop()               { k.t.Stop() }
