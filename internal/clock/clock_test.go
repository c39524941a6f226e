package clock

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestOrDefaultsToReal(t *testing.T) {
	if _, ok := Or(nil).(Real); !ok {
		t.Errorf("Or(nil) = %T, want Real", Or(nil))
	}
	f := NewFake(epoch)
	if Or(f) != Clock(f) {
		t.Error("Or(f) is not f")
	}
}

func TestRealFiresAndStops(t *testing.T) {
	var c Clock = Real{}
	if d := time.Since(c.Now()); d < 0 || d > time.Second {
		t.Errorf("Now is %v off", d)
	}
	fired := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(fired) })
	waitReal(t, fired, "AfterFunc")
	if c.AfterFunc(time.Hour, func() { t.Error("a stopped timer fired") }).Stop() != true {
		t.Error("Stop of a pending timer reported false")
	}
	k := c.NewTicker(time.Millisecond)
	defer k.Stop()
	select {
	case <-k.C():
	case <-time.After(10 * time.Second):
		t.Fatal("no tick")
	}
}

func waitReal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

func TestFakeTimeMovesOnlyByAdvance(t *testing.T) {
	f := NewFake(epoch)
	if !f.Now().Equal(epoch) {
		t.Fatalf("Now %v, want %v", f.Now(), epoch)
	}
	f.Advance(1500 * time.Millisecond)
	f.Advance(0)
	if got := f.Now().Sub(epoch); got != 1500*time.Millisecond {
		t.Errorf("moved %v, want 1.5s", got)
	}
}

func TestFakeFiresInDueOrderAtTheirTimes(t *testing.T) {
	f := NewFake(epoch)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+f.Now().Sub(epoch).String()) }
	}
	f.AfterFunc(3*time.Second, at("c"))
	f.AfterFunc(time.Second, at("a"))
	f.AfterFunc(2*time.Second, at("b1"))
	f.AfterFunc(2*time.Second, at("b2"))
	f.Advance(time.Second - 1)
	if len(got) != 0 {
		t.Fatalf("fired early: %q", got)
	}
	f.Advance(5 * time.Second)
	want := []string{"a@1s", "b1@2s", "b2@2s", "c@3s"}
	if !slices.Equal(got, want) {
		t.Errorf("fired %q, want %q", got, want)
	}
	if got := f.Now().Sub(epoch); got != 6*time.Second-1 {
		t.Errorf("ended at %v", got)
	}
}

func TestFakeFiresTimersArmedByWhatFires(t *testing.T) {
	f := NewFake(epoch)
	var got []time.Duration
	f.AfterFunc(time.Second, func() {
		got = append(got, f.Now().Sub(epoch))
		f.AfterFunc(time.Second, func() { got = append(got, f.Now().Sub(epoch)) })
		f.AfterFunc(time.Hour, func() { got = append(got, f.Now().Sub(epoch)) })
	})
	f.Advance(3 * time.Second)
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("fired at %v, want %v", got, want)
	}
	if p := f.Pending(); !slices.Equal(p, []time.Duration{time.Hour - 2*time.Second}) {
		t.Errorf("pending %v", p)
	}
}

func TestFakeStop(t *testing.T) {
	f := NewFake(epoch)
	fired := 0
	a := f.AfterFunc(time.Second, func() { fired++ })
	b := f.AfterFunc(time.Second, func() { fired++ })
	if !a.Stop() {
		t.Error("Stop of a pending timer reported false")
	}
	if a.Stop() {
		t.Error("a second Stop reported true")
	}
	f.Advance(time.Second)
	if fired != 1 {
		t.Errorf("fired %d, want only the timer not stopped", fired)
	}
	if b.Stop() {
		t.Error("Stop after firing reported true")
	}
}

func TestFakeZeroDelayFiresAtTheNextAdvance(t *testing.T) {
	f := NewFake(epoch)
	fired := false
	f.AfterFunc(-time.Second, func() { fired = true })
	if fired {
		t.Fatal("fired inside AfterFunc")
	}
	f.Advance(0)
	if !fired || !f.Now().Equal(epoch) {
		t.Errorf("fired %v at %v", fired, f.Now())
	}
}

func TestFakeTickerTicksEveryPeriodAndDrops(t *testing.T) {
	f := NewFake(epoch)
	k := f.NewTicker(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-k.C():
		t.Fatal("ticked early")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-k.C(); got.Sub(epoch) != time.Second {
		t.Errorf("tick at %v", got.Sub(epoch))
	}
	// Three periods with no reader: one tick waits, the first missed one,
	// like time.Ticker's.
	f.Advance(3 * time.Second)
	if got := <-k.C(); got.Sub(epoch) != 2*time.Second {
		t.Errorf("waiting tick at %v, want the first missed", got.Sub(epoch))
	}
	select {
	case got := <-k.C():
		t.Errorf("a second tick waited: %v", got)
	default:
	}
	if p := f.Pending(); !slices.Equal(p, []time.Duration{time.Second}) {
		t.Errorf("pending %v, want the next tick in 1s", p)
	}
	k.Stop()
	f.Advance(time.Hour)
	select {
	case <-k.C():
		t.Error("ticked after Stop")
	default:
	}
	if p := f.Pending(); len(p) != 0 {
		t.Errorf("pending %v after Stop", p)
	}
}

func TestFakeTickerRejectsANonPositivePeriod(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewFake(epoch).NewTicker(0)
}

func TestBlockUntilDueWaitsForTheTimer(t *testing.T) {
	f := NewFake(epoch)
	f.AfterFunc(time.Second, func() {}) // not the one waited for
	armed := make(chan struct{})
	go func() {
		<-armed
		f.AfterFunc(2*time.Second, func() {})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	close(armed)
	if err := f.BlockUntilDue(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if p := f.Pending(); !slices.Contains(p, 2*time.Second) {
		t.Errorf("pending %v", p)
	}
}

func TestBlockUntilDueEndsWithItsContext(t *testing.T) {
	f := NewFake(epoch)
	f.AfterFunc(time.Second, func() {})
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if err := f.BlockUntilDue(ctx, 2*time.Second); err != context.Canceled {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestFakeIsSafeForConcurrentUse(t *testing.T) {
	f := NewFake(epoch)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fired := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				f.AfterFunc(time.Millisecond, func() { mu.Lock(); fired++; mu.Unlock() })
				f.Advance(time.Millisecond)
				_ = f.Now()
				_ = f.Pending()
			}
		})
	}
	wg.Wait()
	// Each timer is due by its own goroutine's Advance, whatever the others
	// did meanwhile.
	if fired != 800 || len(f.Pending()) != 0 {
		t.Errorf("fired %d of 800; pending %v", fired, f.Pending())
	}
	if got := f.Now().Sub(epoch); got < 100*time.Millisecond || got > 800*time.Millisecond {
		t.Errorf("moved %v, want between 100 and 800 ms", got)
	}
}
