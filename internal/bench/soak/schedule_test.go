package soak

import (
	"math"
	"reflect"
	"testing"
	"time"
)

var fullPlan = Plan{Seed: 1, Slots: 30, MinLife: 5 * time.Second, MaxLife: 60 * time.Second,
	Total: 10 * time.Minute, Ramp: 10 * time.Second, ReuseGap: 30 * time.Second, Dropped: 0.3, Killed: 0.2}

func TestScheduleIsReproducibleFromItsSeed(t *testing.T) {
	a, b := Schedule(fullPlan), Schedule(fullPlan)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same plan gave two schedules")
	}
	other := fullPlan
	other.Seed = 2
	if reflect.DeepEqual(a, Schedule(other)) {
		t.Fatal("another seed gave the same schedule")
	}
}

func TestScheduleKeepsLivesWithinBoundsAndStartsWithinTheSoak(t *testing.T) {
	s := Schedule(fullPlan)
	// 30 slots × 600 s ÷ a mean life of 32.5 s ≈ 550 publishers.
	if len(s) < 450 || len(s) > 650 {
		t.Fatalf("%d spawns, want about 550", len(s))
	}
	for i, sp := range s {
		if sp.Life < fullPlan.MinLife || sp.Life > fullPlan.MaxLife {
			t.Errorf("spawn %d lives %s, outside %s–%s", i, sp.Life, fullPlan.MinLife, fullPlan.MaxLife)
		}
		if sp.At < 0 || sp.At >= fullPlan.Total {
			t.Errorf("spawn %d starts at %s, outside the soak", i, sp.At)
		}
		if i > 0 && sp.At < s[i-1].At {
			t.Errorf("spawn %d starts before spawn %d", i, i-1)
		}
	}
}

func TestScheduleNeverRunsMoreThanItsSlots(t *testing.T) {
	s := Schedule(fullPlan)
	for _, probe := range s {
		live := 0
		for _, sp := range s {
			if sp.At <= probe.At && probe.At < sp.At+sp.Life {
				live++
			}
		}
		if live > fullPlan.Slots {
			t.Fatalf("%d live at %s, more than %d slots", live, probe.At, fullPlan.Slots)
		}
	}
	// After the ramp every slot is busy.
	at := fullPlan.Ramp + time.Second
	live := 0
	for _, sp := range s {
		if sp.At <= at && at < sp.At+sp.Life {
			live++
		}
	}
	if live != fullPlan.Slots {
		t.Errorf("%d live at %s, want all %d slots", live, at, fullPlan.Slots)
	}
}

func TestScheduleRestsANameBeforeReusingIt(t *testing.T) {
	s := Schedule(fullPlan)
	last := map[string]Spawn{}
	for _, sp := range s {
		if prev, ok := last[sp.Name]; ok && sp.At < prev.At+prev.Life+fullPlan.ReuseGap {
			t.Fatalf("%s reused at %s, %s after its last life ended", sp.Name, sp.At, sp.At-prev.At-prev.Life)
		}
		last[sp.Name] = sp
	}
	if n := Names(s); n >= len(s)/2 || n < fullPlan.Slots {
		t.Errorf("%d names for %d spawns: want reuse, and at least one name per slot", n, len(s))
	}
}

func TestScheduleMixesEndingsInTheirShares(t *testing.T) {
	s := Schedule(fullPlan)
	count := map[Ending]int{}
	for _, sp := range s {
		count[sp.End]++
	}
	for e, want := range map[Ending]float64{EndClean: 0.5, EndDropped: 0.3, EndKilled: 0.2} {
		got := float64(count[e]) / float64(len(s))
		if math.Abs(got-want) > 0.07 {
			t.Errorf("%s: share %.2f, want about %.2f", e, got, want)
		}
	}
}

func TestScheduleOfAnEmptyPlanIsEmpty(t *testing.T) {
	for _, p := range []Plan{{}, {Slots: 3, Total: time.Second}, {Slots: 3, Total: time.Second, MinLife: 2, MaxLife: 1}} {
		if s := Schedule(p); len(s) != 0 {
			t.Errorf("%+v: %d spawns, want none", p, len(s))
		}
	}
}
