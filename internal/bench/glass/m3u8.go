package glass

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// errPlaylist reports bytes that are not a media playlist the HLS clients
// can follow.
var errPlaylist = errors.New("glass: not an HLS media playlist")

// mediaPlaylist is what the HLS clients need of a media playlist (RFC 8216
// §4.3.3, and the Low-Latency tags of draft-pantos-hls-rfc8216bis §4.4.4.9,
// §4.4.3.7, §4.4.5.3).
type mediaPlaylist struct {
	Target     time.Duration // EXT-X-TARGETDURATION
	PartTarget time.Duration // EXT-X-PART-INF; 0 without parts
	CanBlock   bool          // EXT-X-SERVER-CONTROL CAN-BLOCK-RELOAD=YES
	Ended      bool          // EXT-X-ENDLIST
	// Segments are oldest first; the last may be Open: the segment in
	// progress, listed only by its parts so far.
	Segments []hlsSegment
	Preload  string // EXT-X-PRELOAD-HINT URI of the next part
}

// hlsSegment is one media segment and its parts.
type hlsSegment struct {
	MSN   uint64
	URI   string // "" while Open
	Open  bool
	Parts []hlsPart
}

// hlsPart is one EXT-X-PART.
type hlsPart struct {
	URI         string
	Independent bool
	Gap         bool
}

// hasParts reports whether the playlist lists partial segments.
func (p mediaPlaylist) hasParts() bool {
	for _, s := range p.Segments {
		if len(s.Parts) > 0 {
			return true
		}
	}
	return false
}

// parseMediaPlaylist reads a media playlist; other tags are ignored.
func parseMediaPlaylist(b []byte) (mediaPlaylist, error) {
	var p mediaPlaylist
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), len(b)+1)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != "#EXTM3U" {
		return p, fmt.Errorf("%w: no #EXTM3U first", errPlaylist)
	}
	var seq uint64
	var parts []hlsPart
	inf := false // an EXTINF waits for its URI
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		tag, val, _ := strings.Cut(line, ":")
		switch {
		case line == "":
		case !strings.HasPrefix(line, "#"):
			if !inf {
				return p, fmt.Errorf("%w: URI %.40q without EXTINF", errPlaylist, line)
			}
			p.Segments = append(p.Segments, hlsSegment{MSN: seq + uint64(len(p.Segments)), URI: line, Parts: parts})
			parts, inf = nil, false
		case tag == "#EXTINF":
			inf = true
		case tag == "#EXT-X-PART":
			part, err := parsePart(val)
			if err != nil {
				return p, err
			}
			parts = append(parts, part)
		default:
			if err := p.tag(tag, val, &seq); err != nil {
				return p, err
			}
		}
	}
	if len(parts) > 0 {
		p.Segments = append(p.Segments, hlsSegment{MSN: seq + uint64(len(p.Segments)), Open: true, Parts: parts})
	}
	return p, sc.Err()
}

// tag reads the playlist-wide tags.
func (p *mediaPlaylist) tag(tag, val string, seq *uint64) error {
	var err error
	switch tag {
	case "#EXT-X-TARGETDURATION":
		p.Target, err = seconds(val)
	case "#EXT-X-PART-INF":
		p.PartTarget, err = seconds(attr(val, "PART-TARGET"))
	case "#EXT-X-SERVER-CONTROL":
		p.CanBlock = attr(val, "CAN-BLOCK-RELOAD") == "YES"
	case "#EXT-X-MEDIA-SEQUENCE":
		*seq, err = strconv.ParseUint(val, 10, 64)
	case "#EXT-X-PRELOAD-HINT":
		if attr(val, "TYPE") == "PART" {
			p.Preload = attr(val, "URI")
		}
	case "#EXT-X-ENDLIST":
		p.Ended = true
	}
	if err != nil {
		return fmt.Errorf("%w: %s:%.40s: %v", errPlaylist, tag, val, err)
	}
	return nil
}

func parsePart(val string) (hlsPart, error) {
	part := hlsPart{URI: attr(val, "URI"), Independent: attr(val, "INDEPENDENT") == "YES", Gap: attr(val, "GAP") == "YES"}
	if part.URI == "" {
		return part, fmt.Errorf("%w: EXT-X-PART without URI: %.60s", errPlaylist, val)
	}
	return part, nil
}

// seconds reads a decimal number of seconds, bounded to what a playlist
// can mean.
func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 3600 {
		return 0, fmt.Errorf("seconds %q", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// attr returns the value of name in an attribute list (RFC 8216 §4.2),
// unquoted; "" when absent.
func attr(list, name string) string {
	for list != "" {
		var key, val string
		key, list, _ = strings.Cut(list, "=")
		if strings.HasPrefix(list, `"`) {
			val, list, _ = strings.Cut(list[1:], `"`)
			_, list, _ = strings.Cut(list, ",")
		} else {
			val, list, _ = strings.Cut(list, ",")
		}
		if strings.TrimSpace(key) == name {
			return val
		}
	}
	return ""
}
