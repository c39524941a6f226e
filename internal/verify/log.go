package verify

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
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/trust"
)

// ErrLog means a custody log cannot be read: a line that is not an entry,
// or entries in an order no node writes.
var ErrLog = errors.New("custody log is malformed")

// maxLine bounds one line of a custody log.
const maxLine = 1 << 20

// logLine is one entry of a custody log and the line it was on (from 1).
type logLine struct {
	n int
	e trust.Entry
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
		var err error
		if buf, err = readLine(br, buf[:0], n); err != nil {
			return nil, nil, err
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

// readLine appends line n, up to and with its newline (without one at the
// end of the log), to buf: at most maxLine bytes.
func readLine(br *bufio.Reader, buf []byte, n int) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		switch {
		case len(buf) > maxLine:
			return nil, fmt.Errorf("%w: line %d is longer than %d bytes", ErrLog, n, maxLine)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return nil, fmt.Errorf("reading %s: %w", trust.CustodyFile, err)
		}
		return buf, nil
	}
}

// entryJSON is a trust.Entry as read: the domain is parsed by hand (strictly,
// by parseDomain), and pointers tell absent fields from zero ones.
type entryJSON struct {
	Kind        string                `json:"kind"`
	Domain      json.RawMessage       `json:"domain"`
	Broadcaster *common.Address       `json:"broadcaster"`
	Publisher   *common.Address       `json:"publisher"`
	Permit      *trust.Sealed         `json:"permit"`
	Seq         *uint64               `json:"seq"`
	Source      *string               `json:"source"`
	Renditions  []trust.RenditionFile `json:"renditions"`
	Profiles    json.RawMessage       `json:"profiles"`
	Proof       *trust.Proof          `json:"proof"`
	Unsigned    *string               `json:"unsigned"`
}

// parseEntry reads one line of a custody log strictly: a JSON object with
// the fields its kind has and no others, names and paths that stay inside
// the stream directory.
func parseEntry(line []byte) (trust.Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var j entryJSON
	if err := dec.Decode(&j); err != nil {
		return trust.Entry{}, fmt.Errorf("not a custody entry: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return trust.Entry{}, errors.New("not a custody entry: data after the object")
	}
	if err := j.checkFields(); err != nil {
		return trust.Entry{}, err
	}
	switch j.Kind {
	case trust.KindNode:
		d, err := parseDomain(j.Domain)
		if err != nil {
			return trust.Entry{}, err
		}
		return trust.Entry{Kind: j.Kind, Domain: &d, Broadcaster: j.Broadcaster}, nil
	case trust.KindPermit:
		return trust.Entry{Kind: j.Kind, Publisher: j.Publisher, Permit: j.Permit}, nil
	}
	return j.segment()
}

// kindFields are the fields a kind of line may have, and those it must.
func kindFields(kind string) (allowed, required []string, ok bool) {
	switch kind {
	case trust.KindNode:
		return []string{"domain", "broadcaster"}, []string{"domain", "broadcaster"}, true
	case trust.KindPermit:
		return []string{"publisher", "permit"}, []string{"publisher", "permit"}, true
	case trust.KindSegment:
		return []string{"seq", "source", "renditions", "profiles", "proof", "unsigned"}, []string{"seq", "source"}, true
	}
	return nil, nil, false
}

// checkFields checks the line has the fields of its kind, and no others.
func (j *entryJSON) checkFields() error {
	allowed, required, ok := kindFields(j.Kind)
	if !ok {
		return fmt.Errorf("unknown kind %q", truncateText(j.Kind, 40))
	}
	present := j.present()
	for _, f := range present {
		if !slices.Contains(allowed, f) {
			return fmt.Errorf("a %s line has no %q", j.Kind, f)
		}
	}
	for _, f := range required {
		if !slices.Contains(present, f) {
			return fmt.Errorf("a %s line needs %q", j.Kind, f)
		}
	}
	return nil
}

// present lists the fields a line has beyond its kind.
func (j *entryJSON) present() []string {
	var out []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"domain", j.Domain != nil}, {"broadcaster", j.Broadcaster != nil}, {"publisher", j.Publisher != nil},
		{"permit", j.Permit != nil}, {"seq", j.Seq != nil}, {"source", j.Source != nil},
		{"renditions", j.Renditions != nil}, {"profiles", j.Profiles != nil}, {"proof", j.Proof != nil},
		{"unsigned", j.Unsigned != nil},
	} {
		if f.ok {
			out = append(out, f.name)
		}
	}
	return out
}

// segment reads a segment line: its paths, its renditions' names, the
// profiles it logs, and its proof or the reason it has none.
func (j *entryJSON) segment() (trust.Entry, error) {
	e := trust.Entry{Kind: j.Kind, Seq: *j.Seq, Source: *j.Source, Renditions: j.Renditions}
	if err := checkPath(e.Source); err != nil {
		return trust.Entry{}, fmt.Errorf("source: %w", err)
	}
	for i, r := range e.Renditions {
		if !names.Rendition(r.Name) {
			return trust.Entry{}, fmt.Errorf("rendition %d: name %q is not [a-z0-9_-]{1,32}", i, truncateText(r.Name, 70))
		}
		if err := checkPath(r.File); err != nil {
			return trust.Entry{}, fmt.Errorf("rendition %s: %w", r.Name, err)
		}
	}
	var err error
	if e.Profiles, err = j.profiles(); err != nil {
		return trust.Entry{}, err
	}
	switch {
	case j.Proof != nil && j.Unsigned != nil:
		return trust.Entry{}, errors.New(`a segment line has "proof" or "unsigned", not both`)
	case j.Proof != nil:
		e.Proof = j.Proof
	case j.Unsigned == nil || *j.Unsigned == "":
		return trust.Entry{}, errors.New(`a segment line needs "proof", or "unsigned" with a reason`)
	default:
		e.Unsigned = *j.Unsigned
	}
	return e, nil
}

// profiles reads the profiles a segment line logs (nil: none), as logged,
// source rung included: the verifier trusts them only once their hash is
// the one the signed segment record commits to.
func (j *entryJSON) profiles() ([]transcode.Profile, error) {
	if j.Profiles == nil {
		return nil, nil
	}
	var ps []transcode.Profile
	pd := json.NewDecoder(bytes.NewReader(j.Profiles))
	pd.DisallowUnknownFields()
	if err := pd.Decode(&ps); err != nil || len(ps) == 0 {
		return nil, fmt.Errorf("profiles: want a list of profiles (%v)", err)
	}
	return ps, nil
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

// truncateText shortens s to n bytes for an error message.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
