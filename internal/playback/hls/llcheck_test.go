package hls

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// This file is a small LL-HLS playlist reader and validator, written from
// draft-pantos-hls-rfc8216bis and independent of the renderer: no open
// validator checks these rules, and hls.js is not at hand in Go tests.

// llPart is one EXT-X-PART as read.
type llPart struct {
	ms          int // DURATION in milliseconds
	uri         string
	independent bool
	gap         bool
}

// llSegment is one media segment as read: its parts, EXTINF and URI.
type llSegment struct {
	parts []llPart
	ms    int
	uri   string
	pdt   string
	disc  bool
}

// llReport is one EXT-X-RENDITION-REPORT as read.
type llReport struct {
	uri      string
	msn      uint64
	lastPart int // -1 when absent
}

// llPlaylist is a media playlist as read.
type llPlaylist struct {
	version, target int
	mediaSeq        uint64
	control         string // EXT-X-SERVER-CONTROL's attribute list
	attrs           map[string]string
	partTarget      int // ms; 0 without EXT-X-PART-INF
	skipped         int
	segments        []llSegment
	trailing        llSegment // tags and parts after the last URI
	hint            string
	reports         []llReport
	ended           bool
}

// readLL parses a media playlist's lines; it fails the test on a line it
// cannot read.
func readLL(t *testing.T, body []byte) llPlaylist {
	t.Helper()
	p := llPlaylist{attrs: map[string]string{}}
	var cur llSegment
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if err := p.line(sc.Text(), &cur); err != nil {
			t.Fatalf("line %q: %v\n%s", sc.Text(), err, body)
		}
	}
	p.trailing = cur
	return p
}

func (p *llPlaylist) line(line string, cur *llSegment) error {
	tag, val, _ := strings.Cut(line, ":")
	if handled, err := p.headerTag(tag, val); handled {
		return err
	}
	var err error
	switch tag {
	case "#EXT-X-DISCONTINUITY":
		cur.disc = true
	case "#EXT-X-PROGRAM-DATE-TIME":
		cur.pdt = val
	case "#EXT-X-PART":
		var pt llPart
		pt, err = readPart(val)
		cur.parts = append(cur.parts, pt)
	case "#EXTINF":
		cur.ms, err = readMillis(strings.TrimSuffix(val, ","))
	case "#EXT-X-PRELOAD-HINT":
		a := map[string]string{}
		if err = readAttrs(val, a); err == nil && a["TYPE"] != "PART" {
			err = fmt.Errorf("hint type %q", a["TYPE"])
		}
		p.hint = unquote(a["URI"])
	case "#EXT-X-RENDITION-REPORT":
		var r llReport
		r, err = readReport(val)
		p.reports = append(p.reports, r)
	default:
		if strings.HasPrefix(line, "#") {
			return fmt.Errorf("unknown tag")
		}
		cur.uri = line
		p.segments = append(p.segments, *cur)
		*cur = llSegment{}
	}
	return err
}

// headerTag reads the tags that describe the whole playlist.
func (p *llPlaylist) headerTag(tag, val string) (bool, error) {
	var err error
	switch tag {
	case "#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-PLAYLIST-TYPE", "":
	case "#EXT-X-VERSION":
		p.version, err = strconv.Atoi(val)
	case "#EXT-X-TARGETDURATION":
		p.target, err = strconv.Atoi(val)
	case "#EXT-X-MEDIA-SEQUENCE":
		p.mediaSeq, err = strconv.ParseUint(val, 10, 64)
	case "#EXT-X-DISCONTINUITY-SEQUENCE":
		_, err = strconv.ParseUint(val, 10, 64)
	case "#EXT-X-SERVER-CONTROL":
		p.control = val
		err = readAttrs(val, p.attrs)
	case "#EXT-X-PART-INF":
		a := map[string]string{}
		if err = readAttrs(val, a); err == nil {
			p.partTarget, err = readMillis(a["PART-TARGET"])
		}
	case "#EXT-X-SKIP":
		a := map[string]string{}
		if err = readAttrs(val, a); err == nil {
			p.skipped, err = strconv.Atoi(a["SKIPPED-SEGMENTS"])
		}
	case "#EXT-X-ENDLIST":
		p.ended = true
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

func readPart(val string) (llPart, error) {
	a := map[string]string{}
	if err := readAttrs(val, a); err != nil {
		return llPart{}, err
	}
	ms, err := readMillis(a["DURATION"])
	pt := llPart{ms: ms, uri: unquote(a["URI"]), independent: a["INDEPENDENT"] == "YES", gap: a["GAP"] == "YES"}
	if err == nil && pt.uri == "" {
		err = fmt.Errorf("part without URI")
	}
	return pt, err
}

func readReport(val string) (llReport, error) {
	a := map[string]string{}
	if err := readAttrs(val, a); err != nil {
		return llReport{}, err
	}
	r := llReport{uri: unquote(a["URI"]), lastPart: -1}
	var err error
	r.msn, err = strconv.ParseUint(a["LAST-MSN"], 10, 64)
	if s, ok := a["LAST-PART"]; ok && err == nil {
		r.lastPart, err = strconv.Atoi(s)
	}
	return r, err
}

// msnOf is the media sequence number of segment i as read (the segment in
// progress is i == len(segments)).
func (p llPlaylist) msnOf(i int) uint64 { return p.mediaSeq + uint64(p.skipped+i) }

// lastPart is what a rendition report of this playlist must say
// (§4.4.5.4): the last part's MSN and index, else the last segment's MSN.
func (p llPlaylist) lastPart() (uint64, int) {
	if k := len(p.trailing.parts); k > 0 {
		return p.msnOf(len(p.segments)), k - 1
	}
	for i := len(p.segments) - 1; i >= 0; i-- {
		if k := len(p.segments[i].parts); k > 0 {
			return p.msnOf(i), k - 1
		}
	}
	return p.msnOf(len(p.segments) - 1), -1
}

// llRules are the tolerances checkLL allows.
type llRules struct {
	sumSlackMs int  // parts may add up to their EXTINF ± this
	min85      bool // check §4.4.4.9's 85% floor (cut parts, not test fakes)
}

// checkLL asserts the LL-HLS rules one playlist must keep on its own.
func checkLL(t *testing.T, p llPlaylist, rules llRules) {
	t.Helper()
	checkHeader(t, p)
	for i, s := range p.segments {
		if (s.ms+500)/1000 > p.target {
			t.Errorf("segment %d: EXTINF %d ms above the target %d s (§4.4.3.1)", i, s.ms, p.target)
		}
		checkParts(t, p, s, true, rules)
	}
	checkParts(t, p, p.trailing, false, rules)
	checkHint(t, p)
}

// checkHeader checks the version and the server-control figures (§4.4.3.7,
// §4.4.3.8, §8).
func checkHeader(t *testing.T, p llPlaylist) {
	t.Helper()
	if want := map[bool]int{true: 9, false: 3}[p.skipped > 0]; p.version != want {
		t.Errorf("EXT-X-VERSION %d, want %d (EXT-X-SKIP needs 9, nothing else more than 3)", p.version, want)
	}
	if p.ended {
		if p.control != "" || p.hint != "" || len(p.reports) > 0 || p.partTarget > 0 {
			t.Errorf("an ended playlist carries live-only tags (§4.4.5.3)")
		}
		return
	}
	ms := func(name string) int {
		v, err := readMillis(p.attrs[name])
		if err != nil {
			t.Errorf("EXT-X-SERVER-CONTROL %s: %v", name, err)
		}
		return v
	}
	if p.attrs["CAN-BLOCK-RELOAD"] != "YES" || ms("HOLD-BACK") < 3000*p.target || ms("CAN-SKIP-UNTIL") < 6000*p.target {
		t.Errorf("EXT-X-SERVER-CONTROL:%s with target %d", p.control, p.target)
	}
	if _, has := p.attrs["PART-HOLD-BACK"]; has != (p.partTarget > 0) {
		t.Errorf("PART-HOLD-BACK present %v, EXT-X-PART-INF %d ms", has, p.partTarget)
	} else if has && ms("PART-HOLD-BACK") < 3*p.partTarget {
		t.Errorf("PART-HOLD-BACK %s below three part targets", p.attrs["PART-HOLD-BACK"])
	}
}

// checkParts checks one segment's parts: each within PART-TARGET, the
// 85% floor, and (for a complete segment) their sum against EXTINF.
func checkParts(t *testing.T, p llPlaylist, s llSegment, complete bool, rules llRules) {
	t.Helper()
	if len(s.parts) > 0 && p.partTarget == 0 {
		t.Errorf("EXT-X-PART without EXT-X-PART-INF (§4.4.3.7)")
	}
	sum := 0
	for j, pt := range s.parts {
		sum += pt.ms
		if pt.ms > p.partTarget {
			t.Errorf("part %s: %d ms above PART-TARGET %d ms (§4.4.4.9)", pt.uri, pt.ms, p.partTarget)
		}
		final := j == len(s.parts)-1
		exempt := pt.independent || pt.gap || final || s.parts[min(j+1, len(s.parts)-1)].gap
		if rules.min85 && !exempt && pt.ms*100 < 85*p.partTarget {
			t.Errorf("part %s: %d ms below 85%% of PART-TARGET (§4.4.4.9)", pt.uri, pt.ms)
		}
	}
	if d := sum - s.ms; complete && len(s.parts) > 0 && (d > rules.sumSlackMs || -d > rules.sumSlackMs) {
		t.Errorf("segment %s: parts add up to %d ms, EXTINF %d ms", s.uri, sum, s.ms)
	}
}

// checkHint checks that the preload hint names the part after the last one
// listed (§4.4.5.3, §6.2.6), and that an ended playlist has none.
func checkHint(t *testing.T, p llPlaylist) {
	t.Helper()
	if p.hint == "" {
		return
	}
	if p.ended {
		t.Errorf("EXT-X-PRELOAD-HINT in an ended playlist (§4.4.5.3)")
	}
	var want string
	if k := len(p.trailing.parts); k > 0 {
		seq, _, _ := parsePartFile(p.trailing.parts[k-1].uri)
		want = partFile(seq, k)
	} else if n := len(p.segments); n > 0 {
		seq, _ := parseSegmentFile(p.segments[n-1].uri)
		want = partFile(seq+1, 0)
	}
	if p.hint != want {
		t.Errorf("EXT-X-PRELOAD-HINT %q, want %q", p.hint, want)
	}
}

// checkReports asserts what holds across a stream's renditions read at one
// moment: the same EXT-X-SERVER-CONTROL (§6.2.4), and rendition reports
// for every other rendition that match its playlist (§4.4.5.4).
func checkReports(t *testing.T, lists map[string]llPlaylist) {
	t.Helper()
	for name, p := range lists {
		seen := 0
		for _, r := range p.reports {
			other, ok := lists[strings.TrimSuffix(strings.TrimPrefix(r.uri, "../"), "/index.m3u8")]
			if !ok {
				t.Errorf("%s reports unknown %q", name, r.uri)
				continue
			}
			seen++
			if msn, part := other.lastPart(); r.msn != msn || r.lastPart != part {
				t.Errorf("%s reports %s at %d.%d, its playlist is at %d.%d", name, r.uri, r.msn, r.lastPart, msn, part)
			}
			if other.control != p.control {
				t.Errorf("EXT-X-SERVER-CONTROL differs: %s %q, %s %q", name, p.control, r.uri, other.control)
			}
		}
		if seen != len(lists)-1 {
			t.Errorf("%s reports %d renditions, want %d", name, seen, len(lists)-1)
		}
	}
}
