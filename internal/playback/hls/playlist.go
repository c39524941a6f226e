package hls

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// playlistVersion is EXT-X-VERSION. Version 3 is the lowest that allows
// decimal EXTINF durations (RFC 8216 §4.3.2.1, §7); no tag written here
// needs more.
const playlistVersion = 3

// Variant describes one rendition of a stream as the multivariant playlist
// advertises it (RFC 8216 §4.3.4.2).
type Variant struct {
	// Name is the rendition's directory and URL component, [a-z0-9_-]{1,32}.
	Name string `json:"name"`
	// Width and Height give RESOLUTION; left out of the playlist when zero.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Bandwidth is a declared peak in bits/s. The playlist advertises the
	// larger of it and the peak measured from the stored segments.
	Bandwidth int `json:"bandwidth,omitempty"`
	// Codecs is the CODECS attribute, e.g. "avc1.64001f,mp4a.40.2".
	Codecs string `json:"codecs,omitempty"`
	// FrameRate gives FRAME-RATE (three decimals); left out when zero.
	FrameRate float64 `json:"frameRate,omitempty"`
}

// validate checks what the playlist syntax needs: CODECS is a quoted-string,
// which may not hold '"', CR or LF (RFC 8216 §4.2).
func (v Variant) validate() error {
	if !validRenditionName(v.Name) {
		return fmt.Errorf("%w: rendition %q", ErrInvalidName, v.Name)
	}
	if v.Width < 0 || v.Height < 0 || v.Bandwidth < 0 {
		return fmt.Errorf("%w: %s: negative figure", ErrInvalidVariant, v.Name)
	}
	if v.FrameRate < 0 || math.IsNaN(v.FrameRate) || math.IsInf(v.FrameRate, 0) {
		return fmt.Errorf("%w: %s: frame rate %v", ErrInvalidVariant, v.Name, v.FrameRate)
	}
	for i := 0; i < len(v.Codecs); i++ {
		if c := v.Codecs[i]; c < 0x20 || c > 0x7e || c == '"' {
			return fmt.Errorf("%w: %s: codecs %q", ErrInvalidVariant, v.Name, v.Codecs)
		}
	}
	return nil
}

// normalizeVariants validates a variant list and makes sure the source
// rendition is in it: every other rendition falls back to the source's
// segments, so the source is always a playable variant.
func normalizeVariants(vs []Variant, source string) ([]Variant, error) {
	out := make([]Variant, 0, len(vs)+1)
	seen := make(map[string]bool, len(vs))
	for _, v := range vs {
		if err := v.validate(); err != nil {
			return nil, err
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("%w: duplicate rendition %q", ErrInvalidVariant, v.Name)
		}
		seen[v.Name] = true
		out = append(out, v)
	}
	if !seen[source] {
		out = append(out, Variant{Name: source})
	}
	return out, nil
}

// mediaEntry is one media segment of a media playlist with the tags
// applied to it.
type mediaEntry struct {
	Duration      time.Duration
	URI           string
	Discontinuity bool
	Start         time.Time  // EXT-X-PROGRAM-DATE-TIME; zero: none
	Parts         []partLine // its partial segments (Low-Latency HLS)
}

// partLine is one EXT-X-PART tag (draft-pantos-hls-rfc8216bis §4.4.4.9).
type partLine struct {
	Duration    time.Duration
	URI         string
	Independent bool
	Gap         bool
}

// mediaPlaylist is everything a media playlist says (RFC 8216 §4.3.3).
type mediaPlaylist struct {
	TargetDuration        int
	MediaSequence         uint64
	DiscontinuitySequence uint64
	VOD                   bool
	Entries               []mediaEntry
	// Live holds the Low-Latency HLS tags of a live playlist rendered per
	// request; nil for the plain playlists written to disk.
	Live *liveTags
}

// liveTags are the draft-pantos-hls-rfc8216bis tags of a live playlist.
type liveTags struct {
	// HoldBack and SkipUntil are EXT-X-SERVER-CONTROL's HOLD-BACK and
	// CAN-SKIP-UNTIL (§4.4.3.8).
	HoldBack, SkipUntil time.Duration
	// PartTarget is EXT-X-PART-INF's PART-TARGET; zero before the session's
	// first part, when no part tag is written.
	PartTarget time.Duration
	// Skipped counts the leading segments EXT-X-SKIP replaces (§6.2.5.1);
	// DateRanges says the request was _HLS_skip=v2.
	Skipped    int
	DateRanges bool
	// Next is the segment in progress: its tags and parts, no URI yet.
	Next mediaEntry
	// Hint is the EXT-X-PRELOAD-HINT URI of the next part ("": none).
	Hint    string
	Reports []renditionReport
}

// renditionReport is one EXT-X-RENDITION-REPORT (§4.4.5.4).
type renditionReport struct {
	URI      string
	LastMSN  uint64
	LastPart int // -1: the rendition lists no part
}

// version is EXT-X-VERSION: 3 for decimal EXTINF (RFC 8216 §7), 9 with
// EXT-X-SKIP (draft-pantos-hls-rfc8216bis §8). The other LL-HLS tags
// require no version, and §6.2.1 asks for no more than needed.
func (p mediaPlaylist) version() int {
	if p.Live != nil && p.Live.Skipped > 0 {
		return 9
	}
	return playlistVersion
}

// render writes the playlist. EXT-X-DISCONTINUITY-SEQUENCE appears only when
// non-zero; its absence means zero (RFC 8216 §4.3.3.3).
func (p mediaPlaylist) render() []byte {
	b := make([]byte, 0, 256+96*len(p.Entries))
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:"...)
	b = strconv.AppendInt(b, int64(p.version()), 10)
	b = append(b, "\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(p.TargetDuration), 10)
	b = append(b, '\n')
	if p.Live != nil {
		b = p.Live.appendHeader(b)
	}
	b = append(b, "#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendUint(b, p.MediaSequence, 10)
	b = append(b, '\n')
	if p.DiscontinuitySequence > 0 {
		b = append(b, "#EXT-X-DISCONTINUITY-SEQUENCE:"...)
		b = strconv.AppendUint(b, p.DiscontinuitySequence, 10)
		b = append(b, '\n')
	}
	if p.VOD {
		b = append(b, "#EXT-X-PLAYLIST-TYPE:VOD\n"...)
	}
	// Every segment starts with an IDR (the segmenter cuts on them), which
	// is what EXT-X-INDEPENDENT-SEGMENTS promises (RFC 8216 §4.3.5.1).
	b = append(b, "#EXT-X-INDEPENDENT-SEGMENTS\n"...)
	if p.Live != nil {
		b = p.Live.appendSkip(b)
	}
	for _, e := range p.Entries {
		b = e.appendTo(b)
	}
	if p.Live != nil {
		b = p.Live.appendTail(b)
	}
	if p.VOD {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	return b
}

// appendTo writes a segment: the tags that apply to it, which §4.4.4.9
// wants before its first EXT-X-PART, then its parts and its EXTINF and
// URI (none for the segment in progress).
func (e mediaEntry) appendTo(b []byte) []byte {
	if e.Discontinuity {
		b = append(b, "#EXT-X-DISCONTINUITY\n"...)
	}
	if !e.Start.IsZero() {
		b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
		b = e.Start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, '\n')
	}
	for _, pt := range e.Parts {
		b = pt.appendTo(b)
	}
	if e.URI == "" {
		return b
	}
	b = append(b, "#EXTINF:"...)
	b = appendSeconds(b, e.Duration)
	b = append(b, ",\n"...)
	b = append(b, e.URI...)
	return append(b, '\n')
}

func (pt partLine) appendTo(b []byte) []byte {
	b = append(b, "#EXT-X-PART:DURATION="...)
	b = appendSeconds(b, pt.Duration)
	b = append(b, ",URI=\""...)
	b = append(b, pt.URI...)
	b = append(b, '"')
	if pt.Independent {
		b = append(b, ",INDEPENDENT=YES"...)
	}
	if pt.Gap {
		b = append(b, ",GAP=YES"...)
	}
	return append(b, '\n')
}

// appendHeader writes EXT-X-SERVER-CONTROL and EXT-X-PART-INF (§4.4.3.7,
// §4.4.3.8): blocking reload, delta updates, and the hold-backs.
func (l *liveTags) appendHeader(b []byte) []byte {
	b = append(b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL="...)
	b = appendSeconds(b, l.SkipUntil)
	b = append(b, ",HOLD-BACK="...)
	b = appendSeconds(b, l.HoldBack)
	if l.PartTarget > 0 {
		b = append(b, ",PART-HOLD-BACK="...)
		b = appendSeconds(b, partHoldBack(l.PartTarget))
		b = append(b, "\n#EXT-X-PART-INF:PART-TARGET="...)
		b = appendSeconds(b, l.PartTarget)
	}
	return append(b, '\n')
}

// appendSkip writes EXT-X-SKIP where the skipped segments would be
// (§4.4.5.2); a v2 request gets the (empty) list of removed date ranges it
// asked for, there being none in castnet's playlists.
func (l *liveTags) appendSkip(b []byte) []byte {
	if l.Skipped == 0 {
		return b
	}
	b = append(b, "#EXT-X-SKIP:SKIPPED-SEGMENTS="...)
	b = strconv.AppendInt(b, int64(l.Skipped), 10)
	if l.DateRanges {
		b = append(b, ",RECENTLY-REMOVED-DATERANGES=\"\""...)
	}
	return append(b, '\n')
}

// appendTail writes the segment in progress, the preload hint and the
// rendition reports (§4.4.5.3, §4.4.5.4).
func (l *liveTags) appendTail(b []byte) []byte {
	b = l.Next.appendTo(b)
	if l.Hint != "" {
		b = append(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""...)
		b = append(b, l.Hint...)
		b = append(b, "\"\n"...)
	}
	for _, r := range l.Reports {
		b = append(b, "#EXT-X-RENDITION-REPORT:URI=\""...)
		b = append(b, r.URI...)
		b = append(b, "\",LAST-MSN="...)
		b = strconv.AppendUint(b, r.LastMSN, 10)
		if r.LastPart >= 0 {
			b = append(b, ",LAST-PART="...)
			b = strconv.AppendInt(b, int64(r.LastPart), 10)
		}
		b = append(b, '\n')
	}
	return b
}

// partHoldBack is PART-HOLD-BACK: three part targets, what §4.4.3.8 says
// it SHOULD be at least (and twice what it MUST be).
func partHoldBack(partTarget time.Duration) time.Duration { return 3 * partTarget }

// streamInf is one EXT-X-STREAM-INF entry of the multivariant playlist.
type streamInf struct {
	Variant
	Peak    int // BANDWIDTH
	Average int // AVERAGE-BANDWIDTH; left out when zero
	URI     string
}

// renderMultivariant writes the multivariant playlist (RFC 8216 §4.3.4).
// Order: the source first, then the rest as the caller lists them (the
// broadcaster lists its ladder tallest first). Players start on the first
// variant listed (hls.js and AVPlayer both do before they have a bandwidth
// estimate); the source is the one rendition that holds every segment of
// the session in its own encoding, so starting there never meets a
// fallback discontinuity, and it keeps playing when transcoding is down.
// The rest follow the ladder rather than their measured BANDWIDTH: two
// rungs serving the same picture (a source below both, see
// transcode.FitSize) would otherwise swap places on encoder noise.
// Adaptive switching then steps down as needed.
func renderMultivariant(infs []streamInf, source string) []byte {
	infs = slices.Clone(infs)
	slices.SortStableFunc(infs, func(a, b streamInf) int {
		if (a.Name == source) != (b.Name == source) {
			if a.Name == source {
				return -1
			}
			return 1
		}
		return 0 // the caller's order: the ladder's, tallest first
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-INDEPENDENT-SEGMENTS\n", playlistVersion)
	for _, in := range infs {
		attrs := []string{"BANDWIDTH=" + strconv.Itoa(in.Peak)}
		if in.Average > 0 {
			attrs = append(attrs, "AVERAGE-BANDWIDTH="+strconv.Itoa(in.Average))
		}
		if in.Width > 0 && in.Height > 0 {
			attrs = append(attrs, fmt.Sprintf("RESOLUTION=%dx%d", in.Width, in.Height))
		}
		if in.Codecs != "" {
			attrs = append(attrs, `CODECS="`+in.Codecs+`"`)
		}
		if in.FrameRate > 0 {
			attrs = append(attrs, "FRAME-RATE="+strconv.FormatFloat(in.FrameRate, 'f', 3, 64))
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:%s\n%s\n", strings.Join(attrs, ","), in.URI)
	}
	return b.Bytes()
}

// appendSeconds writes a duration in seconds with three decimals, the
// precision of every duration in castnet's playlists (millisecond
// resolution is finer than any frame interval). It rounds as millis does,
// so a part that passes the PART-TARGET check also reads within it.
func appendSeconds(b []byte, d time.Duration) []byte {
	ms := millis(max(d, 0))
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.', byte('0'+ms/100%10), byte('0'+ms/10%10), byte('0'+ms%10))
	return b
}

// ceilSeconds is the smallest whole number of seconds ≥ d, at least 1.
func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// roundSeconds rounds d to the nearest whole second, the comparison RFC 8216
// §4.3.3.1 makes against EXT-X-TARGETDURATION.
func roundSeconds(d time.Duration) int {
	return int((d + time.Second/2) / time.Second)
}
