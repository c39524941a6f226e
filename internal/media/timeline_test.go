package media

import (
	"sync"
	"testing"
	"time"
)

// tlStep is one event on a two-track timeline: a packet of track "v" (90
// kHz) or "a" (48 kHz) arriving at t0+at, or with sr set, a sender report
// pairing ts with the sender's NTP clock at ntp0+at.
type tlStep struct {
	track string
	sr    bool
	ts    uint32
	at    time.Duration
	want  time.Duration // for packets
}

func TestTimeline(t *testing.T) {
	ms := time.Millisecond
	// Starting timestamps: video wraps 50 ms in, audio starts low.
	v0, a0 := uint32(1<<32-4500), uint32(1000)
	tests := []struct {
		name  string
		steps []tlStep
	}{
		{"one track: stream time follows the RTP clock, across the 32-bit wrap", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "v", ts: v0 + 3000, at: 40 * ms, want: 33333333},
			{track: "v", ts: v0 + 9000, at: 90 * ms, want: 100 * ms}, // past the wrap
			{track: "v", ts: v0 + 90000, at: 990 * ms, want: time.Second},
		}},
		{"before sender reports, tracks line up on their first arrival", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "a", ts: a0, at: 20 * ms, want: 20 * ms},
			{track: "a", ts: a0 + 960, at: 45 * ms, want: 40 * ms},
			{track: "v", ts: v0 + 3000, at: 33 * ms, want: 33333333},
		}},
		{"sender reports override arrival: audio delayed in the network is pulled into sync", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "a", ts: a0, at: 100 * ms, want: 100 * ms},
			{track: "v", sr: true, ts: v0, at: 0},
			{track: "a", sr: true, ts: a0, at: 0},                    // audio a0 was sampled with video v0
			{track: "a", ts: a0 + 960, at: 120 * ms, want: 100 * ms}, // 20 ms, but never backwards
			{track: "a", ts: a0 + 48000, at: 1100 * ms, want: time.Second},
			{track: "v", ts: v0 + 90000, at: 1000 * ms, want: time.Second},
		}},
		{"the first sender report does not move its own track", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "v", sr: true, ts: v0 + 9000, at: 5 * time.Hour}, // the sender's clock is far off ours
			{track: "v", ts: v0 + 18000, at: 200 * ms, want: 200 * ms},
		}},
		{"a sender report before any packet anchors the track", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "v", sr: true, ts: v0, at: 0},
			{track: "a", sr: true, ts: a0, at: 500 * ms},
			{track: "a", ts: a0 + 4800, at: 900 * ms, want: 600 * ms},
		}},
		{"instants before stream time zero clamp to zero", []tlStep{
			{track: "a", ts: a0, at: 0, want: 0},
			{track: "a", sr: true, ts: a0, at: 0},
			{track: "v", sr: true, ts: v0, at: -50 * ms},
			{track: "v", ts: v0 + 900, at: 10 * ms, want: 0}, // -40 ms
			{track: "v", ts: v0 + 9000, at: 60 * ms, want: 50 * ms},
		}},
		{"a timestamp jump of hours re-anchors on arrival", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "v", ts: v0 + 3000, at: 33 * ms, want: 33333333},
			{track: "v", ts: v0 + 3000 + 90000*3600, at: 66 * ms, want: 66 * ms},
			{track: "v", ts: v0 + 6000 + 90000*3600, at: 99 * ms, want: 66*ms + 33333333},
		}},
		{"a later sender report that contradicts the packets by hours is ignored", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "v", sr: true, ts: v0, at: 0},
			{track: "v", sr: true, ts: v0 + 90000, at: 3 * time.Hour}, // 1 s of media, 3 h of sender clock
			{track: "v", ts: v0 + 180000, at: 2000 * ms, want: 2 * time.Second},
		}},
		{"a running track's first sender report that is hours off is ignored", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "a", ts: a0, at: 0, want: 0},
			{track: "v", sr: true, ts: v0, at: 0},
			{track: "a", sr: true, ts: a0, at: 3 * time.Hour},
			{track: "a", ts: a0 + 48000, at: 1000 * ms, want: time.Second},
		}},
		{"timestamps running faster than real time are held to arrival", []tlStep{
			{track: "v", ts: v0, at: 0, want: 0},
			{track: "v", ts: v0 + 9*90000, at: 33 * ms, want: 33 * ms}, // 9 s of media in 33 ms
			{track: "v", ts: v0 + 18*90000, at: 66 * ms, want: 66 * ms},
			{track: "v", ts: v0 + 18*90000 + 3000, at: 99 * ms, want: 66*ms + 33333333},
		}},
		{"a timestamp going back never moves stream time back", []tlStep{
			{track: "v", ts: v0 + 3000, at: 0, want: 0},
			{track: "v", ts: v0, at: 33 * ms, want: 0},
			{track: "v", ts: v0 + 6000, at: 66 * ms, want: 33333333},
		}},
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ntp0 := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			tl := NewTimeline(clock.Now)
			tracks := map[string]*TrackClock{"v": tl.Track(90000), "a": tl.Track(48000)}
			for i, s := range tt.steps {
				if s.sr {
					tracks[s.track].OnSenderReport(ntp0.Add(s.at), s.ts)
					continue
				}
				clock.t = t0.Add(s.at)
				if got := tracks[s.track].Map(s.ts, clock.t); got != s.want {
					t.Fatalf("step %d: %s packet ts %d at %v mapped to %v, want %v", i, s.track, s.ts, s.at, got, s.want)
				}
			}
		})
	}
}

func TestTimelineLongStreamsDoNotOverflow(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tl := NewTimeline(nil)
	v := tl.Track(90000)
	v0 := uint32(1<<32 - 4500)
	// 30 hours in 5-second steps: two wraps of the 32-bit clock.
	var got time.Duration
	for s := range 30 * 3600 / 5 {
		got = v.Map(v0+uint32(s)*5*90000, t0.Add(time.Duration(s)*5*time.Second))
	}
	if want := 30*time.Hour - 5*time.Second; got != want {
		t.Fatalf("after 30 hours: %v, want %v", got, want)
	}
}

func TestTimelineTracksOnTheirOwnGoroutines(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tl := NewTimeline(nil)
	var wg sync.WaitGroup
	for _, rate := range []uint32{90000, 48000} {
		c := tl.Track(rate)
		wg.Go(func() {
			var last time.Duration
			for i := range 2000 {
				if i%100 == 0 {
					c.OnSenderReport(t0.Add(time.Duration(i)*10*time.Millisecond), uint32(i)*rate/100)
				}
				d := c.Map(uint32(i)*rate/100, t0.Add(time.Duration(i)*10*time.Millisecond))
				if d < last {
					t.Errorf("rate %d: %v after %v", rate, d, last)
					return
				}
				last = d
			}
		})
	}
	wg.Wait()
}

func TestNTPTime(t *testing.T) {
	// 2025-01-01T00:00:00.5Z: Unix 1735689600 plus the 70 years from 1900.
	ntp := uint64(1735689600+2208988800)<<32 | 0x80000000
	want := time.Date(2025, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	if got := NTPTime(ntp); !got.Equal(want) {
		t.Fatalf("NTPTime(%#x) = %v, want %v", ntp, got, want)
	}
}

func TestTimelineZeroClockRateIsVideo(t *testing.T) {
	tl := NewTimeline(nil)
	c := tl.Track(0)
	t0 := time.Now()
	c.Map(0, t0)
	if got := c.Map(90000, t0); got != time.Second {
		t.Fatalf("90000 ticks at rate 0 = %v, want 1s (90 kHz)", got)
	}
}
