package hls

import (
	"errors"
	"strconv"
	"strings"

	"github.com/castnet/castnet/internal/names"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrInvalidName reports a stream or rendition name outside the allowed
	// alphabet or length.
	ErrInvalidName = errors.New("hls: invalid name")
	// ErrInvalidVariant reports a variant that cannot be written into a
	// playlist (bad name, duplicate, negative figures, quote in CODECS).
	ErrInvalidVariant = errors.New("hls: invalid variant")
	// ErrInvalidSegment reports a segment with no duration or empty bytes.
	ErrInvalidSegment = errors.New("hls: invalid segment")
	// ErrSeqOrder reports a segment number not above the last one stored.
	ErrSeqOrder = errors.New("hls: segment number not increasing")
	// ErrNoSource reports a segment without bytes for the source rendition,
	// which every other rendition falls back to.
	ErrNoSource = errors.New("hls: segment lacks the source rendition")
	// ErrUnknownRendition reports bytes for a rendition that is not one of
	// the stream's variants.
	ErrUnknownRendition = errors.New("hls: unknown rendition")
	// ErrEnded reports a segment added after End.
	ErrEnded = errors.New("hls: stream ended")
	// ErrClosed reports use of a Store after Close, or of a Stream whose
	// session a later Open moved to the archive.
	ErrClosed = errors.New("hls: closed")
	// ErrNotFound reports a path that names nothing served.
	ErrNotFound = errors.New("hls: not found")
	// ErrCorruptManifest reports a stream.json or segments.jsonl that does
	// not describe a valid session.
	ErrCorruptManifest = errors.New("hls: corrupt manifest")
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("hls: bad config")
	// ErrInvalidPart reports a partial segment that cannot be listed: no
	// duration, no bytes, or longer than Config.PartTarget.
	ErrInvalidPart = errors.New("hls: invalid part")
	// ErrPartOrder reports a part for a segment already stored, or for
	// too many segments in progress at once.
	ErrPartOrder = errors.New("hls: part out of order")
	// ErrBadRequest reports a playlist request whose delivery directives
	// are malformed or ask too far ahead (draft-pantos-hls-rfc8216bis
	// §6.2.5.2); the handler answers 400.
	ErrBadRequest = errors.New("hls: bad request")
	// ErrUnavailable reports a blocking request that the stream did not
	// answer within its bound; the handler answers 503 (§6.2.5.2).
	ErrUnavailable = errors.New("hls: not available yet")
)

// validStreamName and validRenditionName are the names package's, the one
// definition every part of castnet uses.
func validStreamName(s string) bool { return names.Stream(s) }

func validRenditionName(s string) bool { return names.Rendition(s) }

// parseSegmentFile turns "{seq}.ts" into seq. Only the canonical decimal
// form is accepted ("007.ts" is not "7.ts"), so each segment has one URL.
func parseSegmentFile(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".ts")
	if !ok {
		return 0, false
	}
	return parseDecimal(digits)
}

// segmentFile is the inverse of parseSegmentFile.
func segmentFile(seq uint64) string { return strconv.FormatUint(seq, 10) + ".ts" }

// maxParts bounds the parts of one rendition's segment: a part index has
// at most four digits, and a producer that cuts more is refused.
const maxParts = 4096

// parsePartFile turns "{seq}.{i}.ts" into seq and i, in canonical decimal
// only (each part has one URL), with i below maxParts.
func parsePartFile(name string) (seq uint64, i int, ok bool) {
	stem, ok := strings.CutSuffix(name, ".ts")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(stem, ".")
	if !ok {
		return 0, 0, false
	}
	seq, ok = parseDecimal(a)
	idx, okIdx := parseDecimal(b)
	if !ok || !okIdx || idx >= maxParts {
		return 0, 0, false
	}
	return seq, int(idx), true
}

// partFile is the inverse of parsePartFile: part i of segment seq lies
// beside {seq}.ts, so the tree on disk plays the same as over HTTP.
func partFile(seq uint64, i int) string {
	return strconv.FormatUint(seq, 10) + "." + strconv.Itoa(i) + ".ts"
}

// parseDecimal accepts a canonical decimal uint64: digits only, no sign,
// no leading zero.
func parseDecimal(digits string) (uint64, bool) {
	if digits == "" || len(digits) > 20 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != digits {
		return 0, false
	}
	return n, true
}
