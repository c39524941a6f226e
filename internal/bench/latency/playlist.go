package latency

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrPlaylist reports bytes that are not an HLS playlist this part can
// follow.
var ErrPlaylist = errors.New("latency: not an HLS playlist")

// playlist is what the go-live poller needs from an m3u8 (RFC 8216 §4):
// the URI lines, told apart by the tag that announced them.
type playlist struct {
	// Variants are the URIs after EXT-X-STREAM-INF (a multivariant
	// playlist, §4.3.4.2).
	Variants []string
	// Segments are the URIs after EXTINF (a media playlist, §4.3.2.1).
	Segments []string
}

// parsePlaylist reads a playlist. It must start with #EXTM3U (§4.3.1.1),
// and every URI line must follow an EXTINF or EXT-X-STREAM-INF tag, other
// tags and blank lines in between allowed; other tags are ignored.
func parsePlaylist(b []byte) (playlist, error) {
	var p playlist
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), len(b)+1)
	first := true
	var next *[]string // where the next URI line goes
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			if line != "#EXTM3U" {
				return playlist{}, fmt.Errorf("%w: first line %.40q", ErrPlaylist, line)
			}
			first = false
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXTINF:"):
			next = &p.Segments
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			next = &p.Variants
		case strings.HasPrefix(line, "#"):
		case next == nil:
			return playlist{}, fmt.Errorf("%w: URI %.40q without EXTINF or EXT-X-STREAM-INF", ErrPlaylist, line)
		case strings.IndexFunc(line, func(r rune) bool { return r < 0x21 || r == 0x7f }) >= 0:
			// A URI has no spaces or control characters (RFC 3986 §2),
			// and a lone CR is not a line break (RFC 8216 §4.1).
			return playlist{}, fmt.Errorf("%w: URI %.40q holds a space or control character", ErrPlaylist, line)
		default:
			*next = append(*next, line)
			next = nil
		}
	}
	if err := sc.Err(); err != nil {
		return playlist{}, fmt.Errorf("%w: %v", ErrPlaylist, err)
	}
	if first {
		return playlist{}, fmt.Errorf("%w: empty", ErrPlaylist)
	}
	return p, nil
}

// tsPacket is the MPEG-TS packet size and 0x47 its sync byte (ISO/IEC
// 13818-1 §2.4.3.2).
const (
	tsPacket = 188
	tsSync   = 0x47
)

// isTS reports whether b looks like MPEG-TS: whole packets, each starting
// with the sync byte. A player would reject anything else, so a segment
// that answers 200 with other bytes is not yet playable.
func isTS(b []byte) bool {
	if len(b) == 0 || len(b)%tsPacket != 0 {
		return false
	}
	for i := 0; i < len(b); i += tsPacket {
		if b[i] != tsSync {
			return false
		}
	}
	return true
}
