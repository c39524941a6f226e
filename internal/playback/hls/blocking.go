package hls

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// This file answers the Delivery Directives of draft-pantos-hls-rfc8216bis
// §6.2.5: blocking playlist reload (_HLS_msn, _HLS_part), delta updates
// (_HLS_skip), and requests for a hinted part before it exists (§6.2.6).
// A blocked request waits on the stream's changed channel, which every
// part, segment and ending closes: it wakes the moment its answer exists,
// with no polling.

// directives are a playlist request's Delivery Directives.
type directives struct {
	msn     uint64
	part    int
	hasMSN  bool
	hasPart bool
	skip    skipMode
}

// parseDirectives reads the _HLS_ parameters of a playlist request's
// query, strictly: each at most once, canonical decimals, YES or v2 for
// _HLS_skip, and no other _HLS_ name (§6.2.5 reserves them). Parameters
// not starting with _HLS_ (a player's token, a cache buster) are ignored.
func parseDirectives(rawQuery string) (directives, error) {
	var d directives
	if rawQuery == "" {
		return d, nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return d, fmt.Errorf("%w: query: %v", ErrBadRequest, err)
	}
	for key, vals := range q {
		if !strings.HasPrefix(key, "_HLS_") {
			continue
		}
		if len(vals) != 1 {
			return d, fmt.Errorf("%w: %s given %d times", ErrBadRequest, key, len(vals))
		}
		if err := d.set(key, vals[0]); err != nil {
			return d, err
		}
	}
	if d.hasPart && !d.hasMSN {
		return d, fmt.Errorf("%w: _HLS_part without _HLS_msn", ErrBadRequest) // §6.2.5.2 MUST
	}
	return d, nil
}

func (d *directives) set(key, val string) error {
	bad := fmt.Errorf("%w: %s=%q", ErrBadRequest, key, val)
	switch key {
	case "_HLS_msn":
		n, ok := parseDecimal(val)
		if !ok {
			return bad
		}
		d.msn, d.hasMSN = n, true
	case "_HLS_part":
		n, ok := parseDecimal(val)
		if !ok || n >= maxParts {
			return bad
		}
		d.part, d.hasPart = int(n), true
	case "_HLS_skip":
		m, ok := map[string]skipMode{"YES": skipYes, "v2": skipV2}[val]
		if !ok {
			return bad
		}
		d.skip = m
	default:
		return bad
	}
	return nil
}

// query writes d back as a query string (the parser's inverse, for tests).
func (d directives) query() string {
	v := url.Values{}
	if d.hasMSN {
		v.Set("_HLS_msn", fmt.Sprint(d.msn))
	}
	if d.hasPart {
		v.Set("_HLS_part", fmt.Sprint(d.part))
	}
	if d.skip != skipNone {
		v.Set("_HLS_skip", map[skipMode]string{skipYes: "YES", skipV2: "v2"}[d.skip])
	}
	return v.Encode()
}

// livePlaylist answers a media playlist request: once the playlist holds
// what d waits for, the live playlist rendered from memory. It returns nil
// when the file on disk is the answer: an ended session, whose VOD
// playlist ignores the directives (§6.2.5.1, §6.2.5.2), or a store with
// parts disabled, which serves plain RFC 8216 playlists.
func (st *Stream) livePlaylist(ctx context.Context, name string, d directives) ([]byte, error) {
	if st.store.cfg.PartTarget < 0 {
		return nil, nil
	}
	if err := st.await(ctx, func() (bool, error) { return st.playlistReady(name, d) }); err != nil {
		return nil, err
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	switch {
	case st.state != stateLive:
		return nil, nil
	case len(st.entries) == 0:
		return nil, fmt.Errorf("%w: no segment yet", ErrNotFound)
	}
	return st.liveMedia(name, d.skip).render(), nil
}

// playlistReady says whether rendition name's playlist can answer d now,
// or refuses a request too far ahead (§6.2.5.2 SHOULD: 400).
func (st *Stream) playlistReady(name string, d directives) (bool, error) {
	if !d.hasMSN || st.state != stateLive || len(st.entries) == 0 {
		return true, nil
	}
	if err := st.checkAhead(name, d); err != nil {
		return false, err
	}
	return st.reached(name, d), nil
}

// checkAhead refuses an _HLS_msn more than two past the last segment, or an
// _HLS_part more than the Advance Part Limit past the last part listed.
func (st *Stream) checkAhead(name string, d directives) error {
	last := st.msn(len(st.entries) - 1)
	if d.msn > last+2 {
		return fmt.Errorf("%w: _HLS_msn %d with the last segment %d", ErrBadRequest, d.msn, last)
	}
	if !d.hasPart {
		return nil
	}
	lastMSN, lastPart := st.lastListed(name)
	ahead := 0
	switch {
	case d.msn == lastMSN:
		ahead = d.part - lastPart
	case d.msn > lastMSN:
		ahead = d.part + 1 // and whatever is left of the segment in progress
	}
	if float64(ahead) > st.advancePartLimit() {
		return fmt.Errorf("%w: part %d.%d is %d parts ahead", ErrBadRequest, d.msn, d.part, ahead)
	}
	return nil
}

// advancePartLimit is §6.2.5.2's Advance Part Limit: three divided by the
// Part Target Duration in seconds when that is below one second, else
// three; that is, about three seconds of parts.
func (st *Stream) advancePartLimit() float64 {
	if pt := st.store.cfg.PartTarget.Seconds(); pt < 1 {
		return 3 / pt
	}
	return 3
}

// reached says whether rendition name's playlist holds what d waits for:
// a segment numbered d.msn or later (§6.2.5.2), or part d.part of it or
// a later one. A part index past a complete segment's last part means part
// 0 of the next segment (§6.2.5.2 MUST). A complete segment that lists no
// parts (its rendition fell back to the source) stands for all of its
// parts, so hls.js, whose next request then names an older segment's part,
// is answered and falls back to polling instead of hanging until 503.
func (st *Stream) reached(name string, d directives) bool {
	n := len(st.entries)
	last := st.msn(n - 1)
	switch {
	case !d.hasPart:
		return d.msn <= last
	case d.msn < last:
		return true
	case d.msn == last:
		if k := len(st.entries[n-1].Parts[name]); d.part < k || k == 0 {
			return true
		}
		return len(st.trailing(name)) > 0
	case d.msn == last+1:
		return d.part < len(st.trailing(name))
	}
	return false
}

// awaitPart blocks until part i of segment seq of rendition name is
// stored, when it is the hinted part or close behind it (§6.2.6); any other
// part that does not exist is ErrNotFound at once.
func (st *Stream) awaitPart(ctx context.Context, name string, seq uint64, i int) error {
	return st.await(ctx, func() (bool, error) { return st.partReady(name, seq, i) })
}

// partReady says whether part i of seq of rendition name can be served.
func (st *Stream) partReady(name string, seq uint64, i int) (bool, error) {
	parts, _ := st.knownParts(name, seq)
	switch {
	case i < len(parts) && parts[i].Gap:
		// §6.2.1: fetching a GAP part MAY fail, e.g. with 404.
		return false, fmt.Errorf("%w: part %d.%d is a gap", ErrNotFound, seq, i)
	case i < len(parts):
		return true, nil
	case st.partAwaited(name, seq, i, len(parts)):
		return false, nil
	}
	return false, fmt.Errorf("%w: part %d.%d", ErrNotFound, seq, i)
}

// knownParts is what rendition name has stored of segment seq's parts,
// whether seq is in progress or complete.
func (st *Stream) knownParts(name string, seq uint64) ([]partInfo, bool) {
	if i, ok := slices.BinarySearchFunc(st.pending, seq, func(p pendingSegment, seq uint64) int {
		return cmp.Compare(p.seq, seq)
	}); ok {
		return st.pending[i].rends[name].listed(), true
	}
	i, ok := slices.BinarySearchFunc(st.entries, seq, func(e entry, seq uint64) int { return cmp.Compare(e.Seq, seq) })
	if !ok {
		return nil, false
	}
	return st.entries[i].Parts[name], true
}

// partAwaited says whether a request for a part not stored yet waits for
// it: the session is live, the rendition streams parts, and the part is in
// the segment of the hinted one or the next, at most the Advance Part
// Limit past what that segment has.
func (st *Stream) partAwaited(name string, seq uint64, i, have int) bool {
	if st.state != stateLive || len(st.entries) == 0 || st.entries[len(st.entries)-1].Seq >= seq {
		return false
	}
	hintSeq, _, ok := st.nextPart(name)
	if !ok || seq < hintSeq || seq > hintSeq+1 {
		return false
	}
	return float64(i-have+1) <= st.advancePartLimit()
}

// await calls ready under the read lock until it reports true or an error,
// waiting on the stream's changes in between, at most three target
// durations: §6.2.5.2 says to answer 503 after that. A request whose
// client has gone stops waiting too.
func (st *Stream) await(ctx context.Context, ready func() (bool, error)) error {
	c, err := st.check(ready)
	if c.ok || err != nil {
		return err
	}
	timer := time.NewTimer(c.bound)
	defer timer.Stop()
	st.waiting.Add(1)
	defer st.waiting.Add(-1)
	for {
		select {
		case <-c.changed:
		case <-timer.C:
			return fmt.Errorf("%w: nothing new after %v", ErrUnavailable, c.bound)
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
		if c, err = st.check(ready); c.ok || err != nil {
			return err
		}
	}
}

// checked is one look at a stream for a blocked request.
type checked struct {
	ok      bool
	changed <-chan struct{} // closed by the next change
	bound   time.Duration   // how long the request may wait
}

// check runs ready under the read lock.
func (st *Stream) check(ready func() (bool, error)) (checked, error) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	ok, err := ready()
	return checked{ok: ok, changed: st.changed, bound: 3 * max(st.targetDuration(), time.Second)}, err
}
