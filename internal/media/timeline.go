package media

import (
	"sync"
	"time"
)

// maxTimestampJump is how far a track's RTP timestamp may move from one
// packet to the next before the track is re-anchored on arrival time: a
// jump that large means the sender restarted its clock, not that time
// passed.
const maxTimestampJump = 10 * time.Second

// maxReportCorrection bounds how far one sender report may move a track
// that is already running. Honest reports correct the arrival-time estimate
// by network jitter, milliseconds to a few hundred; a report that would move
// the track further contradicts the track's own packets (a broken or hostile
// sender) and is ignored, so it cannot open an hours-long hole in a segment.
const maxReportCorrection = time.Second

// maxLead bounds how far ahead of a packet's arrival its stream time may
// run. A packet cannot be sampled after it arrived, so an honest sender
// never gets ahead; one whose timestamps advance faster than real time
// (nine seconds a frame, say) would otherwise make minutes of segments out
// of seconds and multiply the transcoding work. Past the bound the track is
// re-anchored on arrival.
const maxLead = 2 * time.Second

// ntpEpochOffset is the number of seconds from the NTP epoch (1900) to the
// Unix epoch (1970), RFC 5905 §6.
const ntpEpochOffset = 2208988800

// NTPTime converts a 64-bit NTP timestamp, as an RTCP sender report carries
// it (RFC 3550 §6.4.1), to a time.Time.
func NTPTime(ntp uint64) time.Time {
	secs := int64(ntp>>32) - ntpEpochOffset
	frac := (ntp & 0xffffffff) * 1e9 >> 32
	return time.Unix(secs, int64(frac))
}

// Timeline puts the RTP timestamps of a stream's tracks, each with its own
// clock rate and random start, on one shared axis of stream time, so audio
// and video stay in sync.
//
// Every track maps its timestamps onto a wall-clock instant through an
// anchor: at first the arrival of its first packet, later the latest RTCP
// sender report, which pairs an RTP time with the sender's NTP clock
// (RFC 3550 §6.4.1). Sender reports are the accurate way to line tracks up;
// arrival only approximates it. The sender's NTP clock is translated to the
// local clock once, at the first report of any track, so that report causes
// no jump. Stream time zero is the first instant mapped; earlier instants
// clamp to zero, and each track's times never go backwards.
//
// A Timeline is safe for concurrent use: tracks run on their own goroutines.
type Timeline struct {
	now func() time.Time

	mu        sync.Mutex
	origin    time.Time     // wall instant of stream time 0; zero until the first Map
	ntpOffset time.Duration // local wall clock minus sender NTP clock
	haveNTP   bool
}

// NewTimeline returns an empty timeline. now is the clock used when a sender
// report arrives before any packet of its track; nil means time.Now.
func NewTimeline(now func() time.Time) *Timeline {
	if now == nil {
		now = time.Now
	}
	return &Timeline{now: now}
}

// TrackClock maps one track's RTP timestamps onto its Timeline.
type TrackClock struct {
	tl   *Timeline
	rate int64

	// The fields below are guarded by tl.mu.
	started    bool
	lastExt    int64 // last unwrapped timestamp
	anchorExt  int64 // unwrapped timestamp of the anchor
	anchorWall time.Time
	last       time.Duration // last stream time returned, for monotonicity
	mapped     bool
}

// Track adds a track whose RTP clock runs at clockRate Hz (90000 for video,
// 48000 for Opus). A zero clockRate is taken as 90000.
func (tl *Timeline) Track(clockRate uint32) *TrackClock {
	if clockRate == 0 {
		clockRate = 90000
	}
	return &TrackClock{tl: tl, rate: int64(clockRate)}
}

// OnSenderReport anchors the track on an RTCP sender report: the sender's
// wall clock ntp corresponded to RTP time rtpTS. Use NTPTime to convert the
// report's NTP field.
func (c *TrackClock) OnSenderReport(ntp time.Time, rtpTS uint32) {
	tl := c.tl
	tl.mu.Lock()
	defer tl.mu.Unlock()
	ext := c.extend(rtpTS)
	if !tl.haveNTP {
		// Translate the sender's clock so this track does not jump: the
		// instant it maps rtpTS to now is where ntp lands.
		local := tl.now()
		if c.started {
			local = c.wallAt(ext)
		}
		tl.ntpOffset, tl.haveNTP = local.Sub(ntp), true
	}
	wall := ntp.Add(tl.ntpOffset)
	if c.started {
		if d := wall.Sub(c.wallAt(ext)); d > maxReportCorrection || d < -maxReportCorrection {
			return
		}
	}
	c.anchorExt, c.anchorWall = ext, wall
	if !c.started {
		c.started, c.lastExt = true, ext
	}
}

// Map returns the stream time of the packet with RTP timestamp rtpTS that
// arrived at arrival. Within a track the result never decreases.
func (c *TrackClock) Map(rtpTS uint32, arrival time.Time) time.Duration {
	tl := c.tl
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if !c.started {
		c.started, c.lastExt = true, int64(rtpTS)
		c.anchorExt, c.anchorWall = int64(rtpTS), arrival
	}
	ext := c.extend(rtpTS)
	if jump := ext - c.lastExt; max(jump, -jump) > c.rate*int64(maxTimestampJump/time.Second) {
		c.anchorExt, c.anchorWall = ext, arrival
	}
	c.lastExt = ext
	wall := c.wallAt(ext)
	if wall.Sub(arrival) > maxLead {
		c.anchorExt, c.anchorWall, wall = ext, arrival, arrival
	}
	if tl.origin.IsZero() {
		tl.origin = wall
	}
	d := max(wall.Sub(tl.origin), 0)
	if c.mapped && d < c.last {
		d = c.last
	}
	c.last, c.mapped = d, true
	return d
}

// extend widens a 32-bit timestamp to 64 bits next to the last one seen,
// so the 13-hour wrap of a 90 kHz clock passes unnoticed. Caller holds mu.
func (c *TrackClock) extend(ts uint32) int64 {
	if !c.started {
		return int64(ts)
	}
	return c.lastExt + int64(int32(ts-uint32(c.lastExt)))
}

// wallAt is the wall instant of an unwrapped timestamp. Caller holds mu.
func (c *TrackClock) wallAt(ext int64) time.Time {
	return c.anchorWall.Add(ticksToDuration(ext-c.anchorExt, c.rate))
}

// ticksToDuration converts clock ticks to a duration without overflowing
// on long streams.
func ticksToDuration(ticks, rate int64) time.Duration {
	secs, rem := ticks/rate, ticks%rate
	return time.Duration(secs)*time.Second + time.Duration(rem*int64(time.Second)/rate)
}
