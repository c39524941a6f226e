package trust

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/names"
	"github.com/castnet/castnet/internal/sign"
)

// ErrLog means a custody log cannot be read: a line that is not an entry,
// or entries in an order no node writes.
var ErrLog = errors.New("custody log is malformed")

// maxLine bounds one line of a custody log.
const maxLine = 1 << 20

// logLine is one entry of a custody log and the line it was on (from 1).
type logLine struct {
	n int
	e Entry
}

// readLog reads and parses a custody log. A final line without its
// newline that does not parse is a write the node had not finished (or
// crashed in): it is skipped, and a note says so. Any other line that is
// not an entry fails the whole log, naming the line.
func readLog(ctx context.Context, r io.Reader) ([]logLine, []string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		lines []logLine
		notes []string
		buf   []byte
	)
	for n := 1; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		buf = buf[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			buf = append(buf, chunk...)
			if len(buf) > maxLine {
				return nil, nil, fmt.Errorf("%w: line %d is longer than %d bytes", ErrLog, n, maxLine)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("reading %s: %w", CustodyFile, err)
		}
		if len(buf) == 0 { // EOF right after a newline (or an empty log)
			return lines, notes, nil
		}
		torn := buf[len(buf)-1] != '\n'
		line := bytes.TrimSuffix(buf, []byte("\n"))
		e, perr := parseEntry(line)
		switch {
		case perr == nil:
			lines = append(lines, logLine{n: n, e: e})
		case torn:
			notes = append(notes, fmt.Sprintf("line %d: a torn final line (%d bytes, no newline) was skipped: the node was writing it, or crashed doing so", n, len(line)))
		default:
			return nil, nil, fmt.Errorf("%w: line %d: %w", ErrLog, n, perr)
		}
		if torn {
			return lines, notes, nil
		}
	}
}

// entryJSON is an Entry as read: the domain is parsed by hand (sign.Domain
// has no UnmarshalJSON), and pointers tell absent fields from zero ones.
type entryJSON struct {
	Kind        string          `json:"kind"`
	Domain      json.RawMessage `json:"domain"`
	Broadcaster *common.Address `json:"broadcaster"`
	Publisher   *common.Address `json:"publisher"`
	Permit      *Sealed         `json:"permit"`
	Seq         *uint64         `json:"seq"`
	Source      *string         `json:"source"`
	Renditions  []RenditionFile `json:"renditions"`
	Profiles    json.RawMessage `json:"profiles"`
	Proof       *Proof          `json:"proof"`
	Unsigned    *string         `json:"unsigned"`
}

// parseEntry reads one line of a custody log strictly: a JSON object with
// the fields its kind has and no others, names and paths that stay inside
// the stream directory.
func parseEntry(line []byte) (Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var j entryJSON
	if err := dec.Decode(&j); err != nil {
		return Entry{}, fmt.Errorf("not a custody entry: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Entry{}, errors.New("not a custody entry: data after the object")
	}
	e := Entry{Kind: j.Kind}
	// present lists the fields a line has beyond its kind.
	var present []string
	has := func(name string, ok bool) {
		if ok {
			present = append(present, name)
		}
	}
	has("domain", j.Domain != nil)
	has("broadcaster", j.Broadcaster != nil)
	has("publisher", j.Publisher != nil)
	has("permit", j.Permit != nil)
	has("seq", j.Seq != nil)
	has("source", j.Source != nil)
	has("renditions", j.Renditions != nil)
	has("profiles", j.Profiles != nil)
	has("proof", j.Proof != nil)
	has("unsigned", j.Unsigned != nil)
	var allowed, required []string
	switch j.Kind {
	case KindNode:
		allowed, required = []string{"domain", "broadcaster"}, []string{"domain", "broadcaster"}
	case KindPermit:
		allowed, required = []string{"publisher", "permit"}, []string{"publisher", "permit"}
	case KindSegment:
		allowed, required = []string{"seq", "source", "renditions", "profiles", "proof", "unsigned"}, []string{"seq", "source"}
	default:
		return Entry{}, fmt.Errorf("unknown kind %q", truncateText(j.Kind, 40))
	}
	for _, f := range present {
		if !slices.Contains(allowed, f) {
			return Entry{}, fmt.Errorf("a %s line has no %q", j.Kind, f)
		}
	}
	for _, f := range required {
		if !slices.Contains(present, f) {
			return Entry{}, fmt.Errorf("a %s line needs %q", j.Kind, f)
		}
	}
	switch j.Kind {
	case KindNode:
		d, err := parseDomain(j.Domain)
		if err != nil {
			return Entry{}, err
		}
		e.Domain, e.Broadcaster = &d, j.Broadcaster
	case KindPermit:
		e.Publisher, e.Permit = j.Publisher, j.Permit
	case KindSegment:
		e.Seq = *j.Seq
		if err := checkPath(*j.Source); err != nil {
			return Entry{}, fmt.Errorf("source: %w", err)
		}
		e.Source = *j.Source
		for i, r := range j.Renditions {
			if !validRendition(r.Name) {
				return Entry{}, fmt.Errorf("rendition %d: name %q is not [a-z0-9_-]{1,32}", i, truncateText(r.Name, 70))
			}
			if err := checkPath(r.File); err != nil {
				return Entry{}, fmt.Errorf("rendition %s: %w", r.Name, err)
			}
		}
		e.Renditions = j.Renditions
		if j.Profiles != nil {
			// Read as logged, source rung included: only their hash is
			// checked, against the signed segment record.
			pd := json.NewDecoder(bytes.NewReader(j.Profiles))
			pd.DisallowUnknownFields()
			if err := pd.Decode(&e.Profiles); err != nil || len(e.Profiles) == 0 {
				return Entry{}, fmt.Errorf("profiles: want a list of profiles (%v)", err)
			}
		}
		switch {
		case j.Proof != nil && j.Unsigned != nil:
			return Entry{}, errors.New(`a segment line has "proof" or "unsigned", not both`)
		case j.Proof != nil:
			e.Proof = j.Proof
		case j.Unsigned == nil || *j.Unsigned == "":
			return Entry{}, errors.New(`a segment line needs "proof", or "unsigned" with a reason`)
		default:
			e.Unsigned = *j.Unsigned
		}
	}
	return e, nil
}

// parseDomain reads an EIP-712 domain as sign.Domain writes it: {"name",
// "version", "chainId"}, each optional, chainId a JSON number or a decimal
// string.
func parseDomain(raw json.RawMessage) (sign.Domain, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return sign.Domain{}, fmt.Errorf("domain: not a JSON object")
	}
	var d sign.Domain
	for k, v := range m {
		var err error
		switch k {
		case "name":
			err = json.Unmarshal(v, &d.Name)
		case "version":
			err = json.Unmarshal(v, &d.Version)
		case "chainId":
			d.ChainID, err = parseChainID(v)
		default:
			return sign.Domain{}, fmt.Errorf("domain: unknown field %q", truncateText(k, 40))
		}
		if err != nil {
			return sign.Domain{}, fmt.Errorf("domain: %s: %v", k, err)
		}
	}
	if err := d.Check(); err != nil {
		return sign.Domain{}, err
	}
	return d, nil
}

// parseChainID reads a chainId: a JSON number or a decimal string, a
// canonical non-negative integer.
func parseChainID(v json.RawMessage) (*big.Int, error) {
	s := string(v)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
	}
	if s == "" || len(s) > 78 || s[0] == '0' && len(s) > 1 {
		return nil, fmt.Errorf("%q is not a canonical decimal", truncateText(s, 80))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, fmt.Errorf("%q is not a canonical decimal", truncateText(s, 80))
		}
	}
	id, _ := new(big.Int).SetString(s, 10)
	if id.BitLen() > 256 {
		return nil, errors.New("wider than 256 bits")
	}
	return id, nil
}

// validRendition accepts a rendition name (names.Rendition).
func validRendition(s string) bool { return names.Rendition(s) }

// truncateText shortens s to n bytes for an error message.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
