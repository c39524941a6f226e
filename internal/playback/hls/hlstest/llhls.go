// Package hlstest reads media playlists and checks the Low-Latency HLS
// rules of draft-pantos-hls-rfc8216bis on them, for tests of the hls
// package and of the producers that feed it. It is written from the draft,
// independent of hls's renderer: no open validator checks these rules,
// and hls.js is not at hand in Go tests.
package hlstest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Part is one EXT-X-PART as read.
type Part struct {
	Ms          int // DURATION in milliseconds
	URI         string
	Independent bool
	Gap         bool
}

// Segment is one media segment as read: its parts, EXTINF and URI.
type Segment struct {
	Parts         []Part
	Ms            int // EXTINF in milliseconds
	URI           string
	PDT           string // EXT-X-PROGRAM-DATE-TIME as written
	Discontinuity bool
}

// Report is one EXT-X-RENDITION-REPORT as read.
type Report struct {
	URI      string
	MSN      uint64
	LastPart int // -1 when absent
}

// Playlist is a media playlist as read.
type Playlist struct {
	Version, Target int
	MediaSeq        uint64
	Control         string            // EXT-X-SERVER-CONTROL's attribute list
	Attrs           map[string]string // and its attributes
	PartTarget      int               // ms; 0 without EXT-X-PART-INF
	Skipped         int               // EXT-X-SKIP's SKIPPED-SEGMENTS
	Segments        []Segment
	Trailing        Segment // the tags and parts after the last URI: the segment in progress
	Hint            string  // EXT-X-PRELOAD-HINT's URI
	Reports         []Report
	Ended           bool
}

// Read parses a media playlist; it fails on a line it cannot read or a
// tag it does not know.
func Read(body []byte) (Playlist, error) {
	p := Playlist{Attrs: map[string]string{}}
	var cur Segment
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if err := p.line(sc.Text(), &cur); err != nil {
			return p, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
	}
	p.Trailing = cur
	return p, nil
}

func (p *Playlist) line(line string, cur *Segment) error {
	tag, val, _ := strings.Cut(line, ":")
	if handled, err := p.headerTag(tag, val); handled {
		return err
	}
	var err error
	switch tag {
	case "#EXT-X-DISCONTINUITY":
		cur.Discontinuity = true
	case "#EXT-X-PROGRAM-DATE-TIME":
		cur.PDT = val
	case "#EXT-X-PART":
		var pt Part
		pt, err = readPart(val)
		cur.Parts = append(cur.Parts, pt)
	case "#EXTINF":
		cur.Ms, err = readMillis(strings.TrimSuffix(val, ","))
	case "#EXT-X-PRELOAD-HINT":
		a := map[string]string{}
		if err = readAttrs(val, a); err == nil && a["TYPE"] != "PART" {
			err = fmt.Errorf("hint type %q", a["TYPE"])
		}
		p.Hint = unquote(a["URI"])
	case "#EXT-X-RENDITION-REPORT":
		var r Report
		r, err = readReport(val)
		p.Reports = append(p.Reports, r)
	default:
		if strings.HasPrefix(line, "#") {
			return fmt.Errorf("unknown tag")
		}
		cur.URI = line
		p.Segments = append(p.Segments, *cur)
		*cur = Segment{}
	}
	return err
}

// headerTag reads the tags that describe the whole playlist.
func (p *Playlist) headerTag(tag, val string) (bool, error) {
	var err error
	switch tag {
	case "#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-PLAYLIST-TYPE", "":
	case "#EXT-X-VERSION":
		p.Version, err = strconv.Atoi(val)
	case "#EXT-X-TARGETDURATION":
		p.Target, err = strconv.Atoi(val)
	case "#EXT-X-MEDIA-SEQUENCE":
		p.MediaSeq, err = strconv.ParseUint(val, 10, 64)
	case "#EXT-X-DISCONTINUITY-SEQUENCE":
		_, err = strconv.ParseUint(val, 10, 64)
	case "#EXT-X-SERVER-CONTROL":
		p.Control = val
		err = readAttrs(val, p.Attrs)
	case "#EXT-X-PART-INF":
		a := map[string]string{}
		if err = readAttrs(val, a); err == nil {
			p.PartTarget, err = readMillis(a["PART-TARGET"])
		}
	case "#EXT-X-SKIP":
		a := map[string]string{}
		if err = readAttrs(val, a); err == nil {
			p.Skipped, err = strconv.Atoi(a["SKIPPED-SEGMENTS"])
		}
	case "#EXT-X-ENDLIST":
		p.Ended = true
	default:
		return false, nil
	}
	return true, err
}

// readAttrs reads an attribute list (RFC 8216 §4.2), quoted strings kept
// quoted.
func readAttrs(s string, into map[string]string) error {
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return fmt.Errorf("attribute list %q", s)
		}
		val := rest
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return fmt.Errorf("unterminated quote in %q", s)
			}
			val, rest = rest[:end+2], rest[end+2:]
		} else if i := strings.IndexByte(rest, ','); i >= 0 {
			val, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		if _, dup := into[name]; dup {
			return fmt.Errorf("attribute %s twice", name)
		}
		into[name] = val
		s = strings.TrimPrefix(rest, ",")
	}
	return nil
}

func unquote(s string) string { return strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`) }

// readMillis reads a decimal-floating-point of seconds with at most three
// decimals into milliseconds, exactly.
func readMillis(s string) (int, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 3 {
		return 0, fmt.Errorf("%q has more than three decimals", s)
	}
	frac += strings.Repeat("0", 3-len(frac))
	w, err1 := strconv.Atoi(whole)
	f, err2 := strconv.Atoi(frac)
	if err1 != nil || err2 != nil || w < 0 {
		return 0, fmt.Errorf("duration %q", s)
	}
	return w*1000 + f, nil
}

func readPart(val string) (Part, error) {
	a := map[string]string{}
	if err := readAttrs(val, a); err != nil {
		return Part{}, err
	}
	ms, err := readMillis(a["DURATION"])
	pt := Part{Ms: ms, URI: unquote(a["URI"]), Independent: a["INDEPENDENT"] == "YES", Gap: a["GAP"] == "YES"}
	if err == nil && pt.URI == "" {
		err = fmt.Errorf("part without URI")
	}
	return pt, err
}

func readReport(val string) (Report, error) {
	a := map[string]string{}
	if err := readAttrs(val, a); err != nil {
		return Report{}, err
	}
	r := Report{URI: unquote(a["URI"]), LastPart: -1}
	var err error
	r.MSN, err = strconv.ParseUint(a["LAST-MSN"], 10, 64)
	if s, ok := a["LAST-PART"]; ok && err == nil {
		r.LastPart, err = strconv.Atoi(s)
	}
	return r, err
}

// MSN is the media sequence number of segment i as read (the segment in
// progress is i == len(Segments)).
func (p Playlist) MSN(i int) uint64 { return p.MediaSeq + uint64(p.Skipped+i) }

// LastPart is what a rendition report of this playlist must say
// (§4.4.5.4): the last part's MSN and index, else the last segment's MSN
// and -1.
func (p Playlist) LastPart() (uint64, int) {
	if k := len(p.Trailing.Parts); k > 0 {
		return p.MSN(len(p.Segments)), k - 1
	}
	for i := len(p.Segments) - 1; i >= 0; i-- {
		if k := len(p.Segments[i].Parts); k > 0 {
			return p.MSN(i), k - 1
		}
	}
	return p.MSN(len(p.Segments) - 1), -1
}

// Rules are the tolerances Check allows.
type Rules struct {
	// SumSlackMs is how far a complete segment's parts may add up from
	// its EXTINF, in milliseconds.
	SumSlackMs int
	// Min85 checks §4.4.4.9's floor of 85% of PART-TARGET, which parts cut
	// on frames keep and test fakes need not.
	Min85 bool
}

// Check returns every LL-HLS rule one playlist breaks on its own.
func Check(p Playlist, r Rules) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	checkHeader(p, fail)
	for i, s := range p.Segments {
		if (s.Ms+500)/1000 > p.Target {
			fail("segment %d: EXTINF %d ms above the target %d s (§4.4.3.1)", i, s.Ms, p.Target)
		}
		checkParts(p, s, true, r, fail)
	}
	checkParts(p, p.Trailing, false, r, fail)
	checkHint(p, fail)
	return errors.Join(errs...)
}

// checkHeader checks the version and the server-control figures (§4.4.3.7,
// §4.4.3.8, §8).
func checkHeader(p Playlist, fail func(string, ...any)) {
	if want := map[bool]int{true: 9, false: 3}[p.Skipped > 0]; p.Version != want {
		fail("EXT-X-VERSION %d, want %d (EXT-X-SKIP needs 9, nothing else more than 3)", p.Version, want)
	}
	if p.Ended {
		if p.Control != "" || p.Hint != "" || len(p.Reports) > 0 || p.PartTarget > 0 {
			fail("an ended playlist carries live-only tags (§4.4.5.3)")
		}
		return
	}
	ms := func(name string) int {
		v, err := readMillis(p.Attrs[name])
		if err != nil {
			fail("EXT-X-SERVER-CONTROL %s: %v", name, err)
		}
		return v
	}
	if p.Attrs["CAN-BLOCK-RELOAD"] != "YES" || ms("HOLD-BACK") < 3000*p.Target || ms("CAN-SKIP-UNTIL") < 6000*p.Target {
		fail("EXT-X-SERVER-CONTROL:%s with target %d", p.Control, p.Target)
	}
	if _, has := p.Attrs["PART-HOLD-BACK"]; has != (p.PartTarget > 0) {
		fail("PART-HOLD-BACK present %v, EXT-X-PART-INF %d ms", has, p.PartTarget)
	} else if has && ms("PART-HOLD-BACK") < 3*p.PartTarget {
		fail("PART-HOLD-BACK %s below three part targets", p.Attrs["PART-HOLD-BACK"])
	}
}

// checkParts checks one segment's parts: each within PART-TARGET, the
// 85% floor, and (for a complete segment) their sum against EXTINF.
func checkParts(p Playlist, s Segment, complete bool, r Rules, fail func(string, ...any)) {
	if len(s.Parts) > 0 && p.PartTarget == 0 {
		fail("EXT-X-PART without EXT-X-PART-INF (§4.4.3.7)")
	}
	sum := 0
	for j, pt := range s.Parts {
		sum += pt.Ms
		if pt.Ms > p.PartTarget {
			fail("part %s: %d ms above PART-TARGET %d ms (§4.4.4.9)", pt.URI, pt.Ms, p.PartTarget)
		}
		final := j == len(s.Parts)-1
		exempt := pt.Independent || pt.Gap || final || s.Parts[min(j+1, len(s.Parts)-1)].Gap
		if r.Min85 && !exempt && pt.Ms*100 < 85*p.PartTarget {
			fail("part %s: %d ms below 85%% of PART-TARGET (§4.4.4.9)", pt.URI, pt.Ms)
		}
	}
	if d := sum - s.Ms; complete && len(s.Parts) > 0 && (d > r.SumSlackMs || -d > r.SumSlackMs) {
		fail("segment %s: parts add up to %d ms, EXTINF %d ms", s.URI, sum, s.Ms)
	}
}

// checkHint checks that the preload hint names the part after the last one
// listed (§4.4.5.3, §6.2.6): the next index in the segment in progress, or
// part 0 of the segment after the last.
func checkHint(p Playlist, fail func(string, ...any)) {
	if p.Hint == "" {
		return
	}
	if p.Ended {
		fail("EXT-X-PRELOAD-HINT in an ended playlist (§4.4.5.3)")
	}
	var want string
	if k := len(p.Trailing.Parts); k > 0 {
		seq, _, _ := strings.Cut(p.Trailing.Parts[k-1].URI, ".")
		want = seq + "." + strconv.Itoa(k) + ".ts"
	} else if n := len(p.Segments); n > 0 {
		seq, err := strconv.ParseUint(strings.TrimSuffix(p.Segments[n-1].URI, ".ts"), 10, 64)
		if err != nil {
			fail("segment URI %q is not {seq}.ts", p.Segments[n-1].URI)
		}
		want = strconv.FormatUint(seq+1, 10) + ".0.ts"
	}
	if p.Hint != want {
		fail("EXT-X-PRELOAD-HINT %q, want %q", p.Hint, want)
	}
}

// CheckReports returns what breaks the rules across a stream's renditions
// read at one moment (name → playlist): the same EXT-X-SERVER-CONTROL
// (§6.2.4), and rendition reports for every other rendition that match its
// playlist (§4.4.5.4).
func CheckReports(lists map[string]Playlist) error {
	var errs []error
	for name, p := range lists {
		seen := 0
		for _, r := range p.Reports {
			other, ok := lists[strings.TrimSuffix(strings.TrimPrefix(r.URI, "../"), "/index.m3u8")]
			if !ok {
				errs = append(errs, fmt.Errorf("%s reports unknown %q", name, r.URI))
				continue
			}
			seen++
			if msn, part := other.LastPart(); r.MSN != msn || r.LastPart != part {
				errs = append(errs, fmt.Errorf("%s reports %s at %d.%d, its playlist is at %d.%d", name, r.URI, r.MSN, r.LastPart, msn, part))
			}
			if other.Control != p.Control {
				errs = append(errs, fmt.Errorf("EXT-X-SERVER-CONTROL differs: %s %q, %s %q", name, p.Control, r.URI, other.Control))
			}
		}
		if seen != len(lists)-1 {
			errs = append(errs, fmt.Errorf("%s reports %d renditions, want %d", name, seen, len(lists)-1))
		}
	}
	return errors.Join(errs...)
}
