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

// mediaEntry is one media segment line of a media playlist.
type mediaEntry struct {
	Duration      time.Duration
	URI           string
	Discontinuity bool
}

// mediaPlaylist is everything a media playlist file says (RFC 8216 §4.3.3).
type mediaPlaylist struct {
	TargetDuration        int
	MediaSequence         uint64
	DiscontinuitySequence uint64
	VOD                   bool
	Entries               []mediaEntry
}

// render writes the playlist. EXT-X-DISCONTINUITY-SEQUENCE appears only when
// non-zero; its absence means zero (RFC 8216 §4.3.3.3).
func (p mediaPlaylist) render() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n", playlistVersion)
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", p.TargetDuration)
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", p.MediaSequence)
	if p.DiscontinuitySequence > 0 {
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", p.DiscontinuitySequence)
	}
	if p.VOD {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	// Every segment starts with an IDR (the segmenter cuts on them), which
	// is what EXT-X-INDEPENDENT-SEGMENTS promises (RFC 8216 §4.3.5.1).
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, e := range p.Entries {
		if e.Discontinuity {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		fmt.Fprintf(&b, "#EXTINF:%s,\n%s\n", seconds3(e.Duration), e.URI)
	}
	if p.VOD {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.Bytes()
}

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

// seconds3 formats a duration in seconds with three decimals, the EXTINF
// precision (millisecond resolution is finer than any frame interval).
func seconds3(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
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
