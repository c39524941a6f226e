package hls

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// This file stores whole segments: the numbers, files, target duration and
// measured bit rates every playlist derives from.

// AddSegment stores segment seq of every rendition in renditions
// (rendition name → MPEG-TS bytes) and then rewrites the playlists.
// renditions must hold the source rendition; a variant missing from it
// plays the source's segment instead, fenced by EXT-X-DISCONTINUITY because
// its encoding differs (RFC 8216 §4.3.2.3). Those substitutions are logged
// and counted in Stats. A seq that skips numbers is also marked as a
// discontinuity: the media timeline jumps there.
//
// The segment's EXT-X-PROGRAM-DATE-TIME is inferred: the previous
// segment's plus its duration, when that is known and no discontinuity
// lies between; use AddSegmentAt to give it.
func (st *Stream) AddSegment(seq uint64, duration time.Duration, renditions map[string][]byte) error {
	return st.AddSegmentAt(seq, time.Time{}, duration, renditions)
}

// AddSegmentAt is AddSegment with the wall-clock time of the segment's
// first frame, written as EXT-X-PROGRAM-DATE-TIME (RFC 8216 §4.3.2.6).
// Apple's LL-HLS rules require it, and hls.js measures latency with it. A
// zero start is inferred as AddSegment does.
//
// It completes segment seq's parts (AddPart): the renditions in renditions
// keep theirs; a rendition that falls back to the source loses its own
// parts, which cannot be listed beside the source's segment.
func (st *Stream) AddSegmentAt(seq uint64, start time.Time, duration time.Duration, renditions map[string][]byte) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.checkSegment(seq, duration, renditions); err != nil {
		return err
	}
	e := entry{Seq: seq, Duration: duration, Sizes: make(map[string]int64, len(renditions))}
	if err := st.writeRenditions(seq, renditions, e.Sizes); err != nil {
		return err
	}
	e.Gap = st.gapBefore(seq)
	e.Start = st.startOf(start, e.Gap)
	e.Parts = st.completeParts(e)
	st.append(e)
	st.pruneParts()
	st.notify()
	if missing := st.missing(e); len(missing) > 0 {
		st.substitutions += uint64(len(missing))
		st.log.Warn("hls: renditions fall back to source", "seq", seq, "renditions", missing,
			"substitutions", st.substitutions)
	}
	if err := appendJournal(st.dir, e.record()); err != nil {
		return st.store.noteWrite(st.name+" journal", err)
	}
	return st.store.noteWrite(st.name+" playlists", st.writePlaylists(false))
}

// gapBefore says whether segment seq follows a discontinuity: skipped
// numbers, or a Discontinue call (which it consumes).
func (st *Stream) gapBefore(seq uint64) bool {
	gap := false
	if n := len(st.entries); n > 0 && seq != st.entries[n-1].Seq+1 {
		gap = true
		st.log.Warn("hls: segment numbers skipped", "seq", seq, "previous", st.entries[n-1].Seq)
	}
	gap, st.gapNext = gap || st.gapNext, false
	return gap
}

// startOf is a segment's program date-time: the one given, or the
// previous segment's end when the timeline runs on from it.
func (st *Stream) startOf(given time.Time, gap bool) time.Time {
	if !given.IsZero() {
		return given.Round(0) // no monotonic reading: it is a wall-clock label
	}
	n := len(st.entries)
	if gap || n == 0 || st.entries[n-1].Start.IsZero() {
		return time.Time{}
	}
	return st.entries[n-1].Start.Add(st.entries[n-1].Duration)
}

// writeRenditions stores a segment's renditions, noting their sizes. When
// one cannot be written, those already written are removed: the segment is
// not stored, and its files must not hold space on a full disk.
func (st *Stream) writeRenditions(seq uint64, renditions map[string][]byte, sizes map[string]int64) error {
	for name, data := range renditions {
		path := filepath.Join(st.dir, name, segmentFile(seq))
		if err := writeFileAtomic(path, data); err != nil {
			for done := range sizes {
				_ = os.Remove(filepath.Join(st.dir, done, segmentFile(seq)))
			}
			return st.store.noteWrite(fmt.Sprintf("%s segment %d %s", st.name, seq, name), err)
		}
		sizes[name] = int64(len(data))
	}
	return nil
}

func (st *Stream) checkSegment(seq uint64, d time.Duration, renditions map[string][]byte) error {
	switch st.state {
	case stateEnded:
		return fmt.Errorf("%w: %s", ErrEnded, st.name)
	case stateArchived:
		return fmt.Errorf("%w: session of %s archived", ErrClosed, st.name)
	}
	if n := len(st.entries); n > 0 && seq <= st.entries[n-1].Seq {
		return fmt.Errorf("%w: %d after %d", ErrSeqOrder, seq, st.entries[n-1].Seq)
	}
	if d <= 0 || d > maxSegmentDuration {
		return fmt.Errorf("%w: duration %v", ErrInvalidSegment, d)
	}
	if len(renditions[st.source()]) == 0 {
		return fmt.Errorf("%w: segment %d", ErrNoSource, seq)
	}
	for name, data := range renditions {
		if !st.hasVariant(name) {
			return fmt.Errorf("%w: %q", ErrUnknownRendition, name)
		}
		if len(data) == 0 {
			return fmt.Errorf("%w: %s: no bytes", ErrInvalidSegment, name)
		}
	}
	return nil
}

func (st *Stream) hasVariant(name string) bool {
	return slices.ContainsFunc(st.variants, func(v Variant) bool { return v.Name == name })
}

// missing lists the variants that have no bytes of their own in e.
func (st *Stream) missing(e entry) []string {
	var names []string
	for _, v := range st.variants {
		if _, ok := e.Sizes[v.Name]; !ok {
			names = append(names, v.Name)
		}
	}
	return names
}

// append records e: target duration, totals and per-rendition statistics.
func (st *Stream) append(e entry) {
	st.observeDuration(e.Duration)
	st.entries = append(st.entries, e)
	st.total += e.Duration
	for _, v := range st.variants {
		st.measure(v.Name, len(st.entries)-1)
	}
}

// observeDuration keeps EXT-X-TARGETDURATION. RFC 8216 §6.2.1 forbids
// changing it, and §4.3.3.1 requires every EXTINF, rounded to the nearest
// second, to be at most it. It is therefore set once from the first segment,
// rounded up. A later segment that breaks §4.3.3.1 leaves no way to obey
// both rules; the target is then raised (never lowered) to that segment's
// duration rounded up, and a warning logged: players re-read the target on
// every reload and cope with a larger one, whereas a segment longer than the
// target makes them stall or reject the playlist. The segmenter cuts on the
// publisher's IDRs, so this happens only when those come later than usual.
func (st *Stream) observeDuration(d time.Duration) {
	if st.target == 0 {
		st.target = ceilSeconds(d)
		return
	}
	if roundSeconds(d) > st.target {
		old := st.target
		st.target = ceilSeconds(d)
		st.targetRaises++
		st.log.Warn("hls: segment longer than target duration; raising it",
			"duration", d, "old", old, "new", st.target)
	}
}

// measure adds entry i to a rendition's statistics, if the rendition has
// bytes of its own there. The peak follows RFC 8216 §4.3.4.2: the largest
// bit rate of any contiguous run of segments lasting 0.5 to 1.5 target
// durations; the runs measured are those ending at i. A lone segment longer
// than that range counts on its own.
//
// Segments that fall back to the source are left out on purpose: counting
// them would give a low rendition the source's bit rate for the rest of the
// session after one transcoding hiccup, and players would then order the
// ladder wrongly. BANDWIDTH thus describes the rendition's own encoding.
func (st *Stream) measure(name string, i int) {
	if st.substituted(st.entries[i], name) {
		return
	}
	rs := st.stats[name]
	rs.bytes += st.entries[i].Sizes[name]
	rs.dur += st.entries[i].Duration
	lo := time.Duration(st.target) * time.Second / 2
	hi := time.Duration(st.target) * time.Second * 3 / 2
	var bytes int64
	var dur time.Duration
	for j := i; j >= 0 && !st.substituted(st.entries[j], name); j-- {
		bytes += st.entries[j].Sizes[name]
		dur += st.entries[j].Duration
		if dur >= lo && (dur <= hi || j == i) {
			rs.peak = max(rs.peak, float64(bytes*8)/dur.Seconds())
		}
		if dur > hi {
			break
		}
	}
}
