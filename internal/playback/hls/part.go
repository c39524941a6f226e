package hls

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// This file takes the partial segments of Low-Latency HLS
// (draft-pantos-hls-rfc8216bis §3.2, §4.4.4.9): {seq}.{i}.ts beside
// {seq}.ts, listed at the live edge and forgotten once the whole segment
// has been stored long enough.

// maxPending bounds the segments in progress at once. The source's parts
// run ahead of AddSegment, which waits for the transcoded renditions, so
// a few segments may be in progress; more means the segment was dropped.
const maxPending = 8

// Part is one partial segment of a rendition (EXT-X-PART).
type Part struct {
	// Duration is the part's media duration; it may not exceed
	// Config.PartTarget (draft-pantos-hls-rfc8216bis §4.4.4.9).
	Duration time.Duration
	// Independent says the part starts with an IDR: INDEPENDENT=YES.
	Independent bool
	// Gap says the part is not available (GAP=YES): e.g. the rest of a
	// segment whose encoder failed over mid-segment. Data is ignored.
	Gap bool
	// Data is the part's MPEG-TS bytes. Each part must demux on its own,
	// so putting the PAT and PMT first in each part is the caller's job
	// (package parts' Cutter does it).
	Data []byte
}

// partInfo is what a stored part's playlist line needs.
type partInfo struct {
	Duration    time.Duration
	Independent bool
	Gap         bool
}

// pendingSegment is a segment in progress: the parts received so far, by
// rendition.
type pendingSegment struct {
	seq   uint64
	rends map[string]*partRun
}

// partRun is one rendition's parts of a segment.
type partRun struct {
	parts []partInfo
	// broken: a part was refused, so the segment is listed without this
	// rendition's parts (a hole in them would misplace every later one).
	broken bool
}

// listed is what a playlist lists of the run: nothing once broken.
func (r *partRun) listed() []partInfo {
	if r == nil || r.broken {
		return nil
	}
	return r.parts
}

// AddPart appends the next part of segment seq (the segment in progress,
// numbered above every stored one) for a rendition. Parts of a segment come
// in order; AddSegment(seq, ...) later completes it. The part's file is
// written before the part is listed (§6.2.1: a part must be available when
// added), and requests blocked on it are answered at once.
//
// A part longer than Config.PartTarget is refused (ErrInvalidPart) and the
// rest of that rendition's segment is listed without parts. With parts
// disabled (negative PartTarget) AddPart stores nothing and returns nil,
// so a producer need not know the setting.
func (st *Stream) AddPart(rendition string, seq uint64, p Part) error {
	if st.store.cfg.PartTarget < 0 {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	run, err := st.partRunFor(rendition, seq)
	if err != nil {
		return err
	}
	if err := st.checkPart(run, p); err != nil {
		st.breakRun(rendition, seq, run)
		return err
	}
	if !p.Gap {
		path := filepath.Join(st.dir, rendition, partFile(seq, len(run.parts)))
		if err := st.store.noteWrite(st.name+" part", writeFileAtomic(path, p.Data)); err != nil {
			st.breakRun(rendition, seq, run)
			return err
		}
	}
	run.parts = append(run.parts, partInfo{Duration: p.Duration, Independent: p.Independent, Gap: p.Gap})
	st.ll, st.parts, st.reserved = true, st.parts+1, max(st.reserved, seq+1)
	st.notify()
	return nil
}

// partRunFor finds or starts the run that a part of rendition for seq
// extends, checking the session and the numbering.
func (st *Stream) partRunFor(rendition string, seq uint64) (*partRun, error) {
	switch {
	case st.state != stateLive:
		return nil, fmt.Errorf("%w: %s", ErrEnded, st.name)
	case !st.hasVariant(rendition):
		return nil, fmt.Errorf("%w: %q", ErrUnknownRendition, rendition)
	}
	if n := len(st.entries); n > 0 && seq <= st.entries[n-1].Seq {
		return nil, fmt.Errorf("%w: part of %d, stored up to %d", ErrPartOrder, seq, st.entries[n-1].Seq)
	}
	i, found := slices.BinarySearchFunc(st.pending, seq, func(p pendingSegment, seq uint64) int {
		return cmp.Compare(p.seq, seq)
	})
	if !found {
		if len(st.pending) >= maxPending {
			return nil, fmt.Errorf("%w: %d segments in progress", ErrPartOrder, len(st.pending))
		}
		st.pending = slices.Insert(st.pending, i, pendingSegment{seq: seq, rends: map[string]*partRun{}})
	}
	run := st.pending[i].rends[rendition]
	if run == nil {
		run = &partRun{}
		st.pending[i].rends[rendition] = run
	}
	return run, nil
}

// checkPart refuses a part that no playlist could list.
func (st *Stream) checkPart(run *partRun, p Part) error {
	switch {
	case run.broken:
		return fmt.Errorf("%w: an earlier part of this segment was refused", ErrInvalidPart)
	case len(run.parts) >= maxParts:
		return fmt.Errorf("%w: more than %d parts", ErrPartOrder, maxParts)
	case p.Duration <= 0 || !p.Gap && len(p.Data) == 0:
		return fmt.Errorf("%w: %v, %d bytes", ErrInvalidPart, p.Duration, len(p.Data))
	case millis(p.Duration) > millis(st.store.cfg.PartTarget):
		// §4.4.4.9: a part MUST NOT exceed the Part Target Duration, as
		// both are written (to the millisecond).
		return fmt.Errorf("%w: %v longer than the part target %v", ErrInvalidPart, p.Duration, st.store.cfg.PartTarget)
	}
	return nil
}

// breakRun stops listing a rendition's parts of seq and removes their files.
func (st *Stream) breakRun(rendition string, seq uint64, run *partRun) {
	if run.broken {
		return
	}
	st.log.Warn("hls: part refused; the segment is listed without its parts", "seq", seq,
		"rendition", rendition)
	st.removePartFiles(rendition, seq, run.parts)
	run.broken = true
	st.notify()
}

// completeParts takes the parts of the segment e completes: those of the
// renditions that have bytes of their own in e. Segments in progress below
// e's number were abandoned; their files go.
func (st *Stream) completeParts(e entry) map[string][]partInfo {
	var out map[string][]partInfo
	for len(st.pending) > 0 && st.pending[0].seq <= e.Seq {
		p := st.pending[0]
		st.pending = st.pending[1:]
		for name, run := range p.rends {
			if _, own := e.Sizes[name]; p.seq == e.Seq && own && len(run.listed()) > 0 {
				out = cloneInto(out, name, run.parts)
				st.checkPartSum(e, name, run.parts)
				continue
			}
			st.removePartFiles(name, p.seq, run.listed())
		}
	}
	return out
}

func cloneInto(m map[string][]partInfo, name string, parts []partInfo) map[string][]partInfo {
	if m == nil {
		m = make(map[string][]partInfo)
	}
	m[name] = slices.Clip(parts)
	return m
}

// checkPartSum warns when a rendition's parts do not add up to its
// segment: §3.2 wants them to hold the same media.
func (st *Stream) checkPartSum(e entry, name string, parts []partInfo) {
	var sum time.Duration
	for _, p := range parts {
		sum += p.Duration
	}
	if d := sum - e.Duration; d > st.store.cfg.PartTarget/2 || -d > st.store.cfg.PartTarget/2 {
		st.log.Warn("hls: parts do not add up to their segment", "seq", e.Seq, "rendition", name,
			"parts", sum, "segment", e.Duration)
	}
}

// pruneParts forgets the parts of segments that are out of the live
// window and whose EXT-X-PART tags were dropped more than three target
// durations ago (§6.2.2: clients must be able to fetch a part for three
// target durations after its tag goes), and removes their files. Each
// segment is pruned once, so the work per segment is bounded.
func (st *Stream) pruneParts() {
	keep := min(st.windowStart(), st.partsKeptFrom(6*st.targetDuration()))
	for ; st.pruned < keep; st.pruned++ {
		e := &st.entries[st.pruned]
		for name, parts := range e.Parts {
			st.removePartFiles(name, e.Seq, parts)
		}
		e.Parts = nil
	}
}

// partsKeptFrom is the index of the first entry that ends within limit of
// the end of the last entry.
func (st *Stream) partsKeptFrom(limit time.Duration) int {
	var dist time.Duration // from the end of entry i to the end of the last
	for i := len(st.entries) - 1; i >= 0; i-- {
		if dist > limit {
			return i + 1
		}
		dist += st.entries[i].Duration
	}
	return 0
}

// dropAllParts removes every part file when the session ends: its VOD
// playlist lists none (§4.4.5.3: an ended playlist has no hint either).
func (st *Stream) dropAllParts() {
	for i := st.pruned; i < len(st.entries); i++ {
		for name, parts := range st.entries[i].Parts {
			st.removePartFiles(name, st.entries[i].Seq, parts)
		}
		st.entries[i].Parts = nil
	}
	st.pruned = len(st.entries)
	for _, p := range st.pending {
		for name, run := range p.rends {
			st.removePartFiles(name, p.seq, run.listed())
		}
	}
	st.pending = nil
}

// removePartFiles removes the files of parts (gaps have none).
func (st *Stream) removePartFiles(rendition string, seq uint64, parts []partInfo) {
	for i, p := range parts {
		if p.Gap {
			continue
		}
		err := os.Remove(filepath.Join(st.dir, rendition, partFile(seq, i)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			st.log.Warn("hls: removing a part", "seq", seq, "rendition", rendition, "err", err)
		}
	}
}

// notify wakes every request blocked on the stream (blocking.go). Called
// under st.mu held for writing.
func (st *Stream) notify() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// targetDuration is EXT-X-TARGETDURATION as a duration.
func (st *Stream) targetDuration() time.Duration { return time.Duration(st.target) * time.Second }

// sweepParts removes the part files a crashed session left in its
// rendition directories, and returns one past the highest segment number
// among them: those URLs were published.
func sweepParts(dir string, variants []Variant) uint64 {
	var next uint64
	for _, v := range variants {
		files, _ := os.ReadDir(filepath.Join(dir, v.Name))
		for _, f := range files {
			if seq, _, ok := parsePartFile(f.Name()); ok && f.Type().IsRegular() {
				_ = os.Remove(filepath.Join(dir, v.Name, f.Name()))
				next = max(next, seq+1)
			}
		}
	}
	return next
}

// millis rounds d to the millisecond, the precision playlists write.
func millis(d time.Duration) int64 { return int64((d + time.Millisecond/2) / time.Millisecond) }
