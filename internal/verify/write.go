package verify

import (
	"bufio"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Write prints the report for people: the log's parties, a line per
// segment (every reason under a mismatched one), the problems and notes,
// and the totals.
func (r *Report) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	r.writeHead(p)
	r.writeSegments(p)
	writeList(p, "problems with the log", r.Problems)
	writeList(p, "notes", r.Notes)
	p("parties:\n")
	for _, pt := range r.Parties {
		p("  %-12s  %s  %d %s\n", pt.Role, pt.Address.Hex(), pt.Segments, plural(pt.Segments, "segment"))
	}
	t := r.Totals
	p("\n%d %s: %d ok, %d MISMATCHED, %d unsigned; %s pixels in the segments that check out\n",
		t.Segments, plural(t.Segments, "segment"), t.OK, t.Mismatched, t.Unsigned, thousands(t.Pixels))
	return bw.Flush()
}

// printer is fmt.Fprintf to the report's writer.
type printer func(format string, args ...any)

// writeHead prints the stream, the domain and the keepers of the log.
func (r *Report) writeHead(p printer) {
	stream := r.Stream
	if stream == "" {
		stream = "?"
	}
	p("custody of stream %q from %s\n", stream, r.Source)
	p("  domain       %s\n", domainText(r))
	p("  broadcaster  %s\n", r.Broadcaster.Hex())
	if pm := r.Permit; pm != nil {
		p("  publisher    %s (permit for stream %q, nonce %s, expires %s, at most %s wei per pixel, digest %s)\n",
			pm.Publisher.Hex(), pm.Stream, pm.Nonce, unixText(pm.Expires), pm.MaxPricePerPixel, short(pm.Digest.Hex()))
	} else {
		p("  publisher    none: an anonymous stream, no permit\n")
	}
	for _, pm := range r.Permits[min(1, len(r.Permits)):] {
		p("  reconnected  %s (permit nonce %s, expires %s, digest %s)\n",
			pm.Publisher.Hex(), pm.Nonce, unixText(pm.Expires), short(pm.Digest.Hex()))
	}
	p("\n")
}

// writeSegments prints a line per segment, and every reason under a
// mismatched one.
func (r *Report) writeSegments(p printer) {
	width := 1
	for _, s := range r.Segments {
		width = max(width, len(strconv.FormatUint(s.Seq, 10)))
	}
	for _, s := range r.Segments {
		p("  seq %-*d  ", width, s.Seq)
		switch s.Status {
		case StatusOK:
			p("ok        %s\n", segmentText(s))
		case StatusUnsigned:
			p("unsigned  %s\n", strings.Join(s.Reasons, "; "))
		default:
			p("MISMATCH  %s\n", segmentText(s))
			for _, why := range s.Reasons {
				p("  %*s            - %s\n", width, "", why)
			}
		}
	}
	if len(r.Segments) > 0 {
		p("\n")
	}
}

// writeList prints a titled list, when it has items.
func writeList(p printer, title string, items []string) {
	if len(items) == 0 {
		return
	}
	p("%s:\n", title)
	for _, s := range items {
		p("  - %s\n", s)
	}
	p("\n")
}

// segmentText is a segment's renditions, pixels and signers.
func segmentText(s SegmentReport) string {
	var parts []string
	if n := len(s.Renditions); n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s (%s)", n, plural(n, "rendition"), strings.Join(s.Renditions, ", ")))
	}
	if s.Pixels != nil {
		parts = append(parts, thousands(*s.Pixels)+" pixels")
	} else if s.Status != StatusUnsigned {
		parts = append(parts, "pixels not counted")
	}
	if s.DurationMs > 0 {
		parts = append(parts, fmt.Sprintf("%.3f s", float64(s.DurationMs)/1000))
	}
	if s.Orchestrator != nil {
		parts = append(parts, "orchestrator "+short(s.Orchestrator.Hex()))
	}
	if s.Transcoder != nil {
		parts = append(parts, "transcoder "+short(s.Transcoder.Hex()))
	}
	return strings.Join(parts, ", ")
}

// domainText is the EIP-712 domain in words.
func domainText(r *Report) string {
	d := r.Domain
	s := fmt.Sprintf("%q version %q", d.Name, d.Version)
	if d.ChainID != nil {
		s += ", chain " + d.ChainID.String()
	} else {
		s += ", no chainId"
	}
	return s
}

// unixText is unix seconds as RFC 3339 UTC.
func unixText(dec string) string {
	v, ok := new(big.Int).SetString(dec, 10)
	if !ok || !v.IsInt64() {
		return dec
	}
	return time.Unix(v.Int64(), 0).UTC().Format(time.RFC3339)
}

// short is 0x1234…abcd.
func short(hex string) string {
	if len(hex) <= 14 {
		return hex
	}
	return hex[:6] + "…" + hex[len(hex)-4:]
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// thousands writes n with commas.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
