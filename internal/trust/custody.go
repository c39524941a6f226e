package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
)

// The custody log of a stream session lies next to its playlists:
//
//	{stream dir}/custody.jsonl         one JSON object per line (Entry)
//	{stream dir}/custody.d/{seq}.ts    each source segment as signed and sent
//	{stream dir}/{rendition}/{seq}.ts  the renditions (written by playback)
//
// The first line names the EIP-712 domain and the broadcaster; a permit
// line follows when the stream was published under one; then one line per
// published segment.
const (
	CustodyFile = "custody.jsonl"
	SourceDir   = "custody.d"
)

// Entry kinds.
const (
	KindNode    = "node"
	KindPermit  = "permit"
	KindSegment = "segment"
)

// Entry is one line of a custody log.
type Entry struct {
	Kind string `json:"kind"`
	// node
	Domain      *sign.Domain    `json:"domain,omitempty"`
	Broadcaster *common.Address `json:"broadcaster,omitempty"`
	// permit
	Publisher *common.Address `json:"publisher,omitempty"`
	Permit    *Sealed         `json:"permit,omitempty"`
	// segment
	// Seq is written on segment lines only (MarshalJSON).
	Seq        uint64          `json:"-"`
	Source     string          `json:"source,omitempty"`
	Renditions []RenditionFile `json:"renditions,omitempty"`
	// Profiles are the profiles the segment was transcoded with; their
	// ProfilesHash is what the Segment record signs.
	Profiles []transcode.Profile `json:"profiles,omitempty"`
	Proof    *Proof              `json:"proof,omitempty"`
	// Unsigned says why a segment has no proof (published as source
	// after the transcode failed, say).
	Unsigned string `json:"unsigned,omitempty"`
}

// custodyLineJSON is Entry with seq present on segment lines, even seq 0.
type custodyLineJSON struct {
	custodyLineAlias
	Seq *uint64 `json:"seq,omitempty"`
}

type custodyLineAlias Entry

// MarshalJSON writes seq on segment lines only.
func (e Entry) MarshalJSON() ([]byte, error) {
	j := custodyLineJSON{custodyLineAlias: custodyLineAlias(e)}
	if e.Kind == KindSegment {
		j.Seq = &e.Seq
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a line written by MarshalJSON.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j custodyLineJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Entry(j.custodyLineAlias)
	if j.Seq != nil {
		e.Seq = *j.Seq
	}
	return nil
}

// RenditionFile names a rendition's file, relative to the stream dir, in
// the order the receipt hashes them.
type RenditionFile struct {
	Name string `json:"name"`
	File string `json:"file"`
}

// Published is one segment as playback stored it.
type Published struct {
	Dir    string // the stream session's directory
	Stream string
	Seq    uint64
	Source []byte
	// Names are the renditions in the order their transcoder returned
	// them; Proof their Rendition.Proof ("" when unsigned).
	Names    []string
	Profiles []transcode.Profile
	Proof    string
	// Why is the reason a segment is unsigned.
	Why string
	// SourceFile, when set, is a file that already holds exactly Source
	// (a -source-only segment, stored as cut): the log hard-links it
	// instead of writing a second copy.
	SourceFile string
	// Payer is the session's committed admission (its permit, or nil):
	// the log's permit line names it.
	Payer fmt.Stringer
}

// Record appends a published segment to its stream's custody log,
// starting the log (node and permit lines) when it is new, with a permit
// line when a permit's session first records into a log it continues,
// and keeps the source bytes the signature covers.
func (b *Broadcaster) Record(p Published) error {
	path := filepath.Join(p.Dir, CustodyFile)
	_, err := os.Stat(path)
	lines, perm := b.headLines(p, os.IsNotExist(err))
	src := SourceDir + "/" + strconv.FormatUint(p.Seq, 10) + ".ts"
	if err := keepSource(filepath.Join(p.Dir, filepath.FromSlash(src)), p.Source, p.SourceFile); err != nil {
		return err
	}
	e, err := segmentLine(p, src)
	if err != nil {
		return err
	}
	if err := writeLines(path, append(lines, e)); err != nil {
		return err
	}
	if perm != nil && perm.logged != nil {
		perm.logged.Store(true)
	}
	return nil
}

// headLines are the lines that go before p's segment line: the node line
// when the log is new, and the permit line when p's session has none in
// it yet (the log is new, or the publisher reconnected and its session
// continues the log). It also returns the session's permit (nil: none).
func (b *Broadcaster) headLines(p Published, fresh bool) ([]Entry, *permitted) {
	var lines []Entry
	if fresh {
		addr, d := b.cfg.Key.Address, b.cfg.Domain
		lines = append(lines, Entry{Kind: KindNode, Domain: &d, Broadcaster: &addr})
	}
	perm := payer(p.Payer)
	if perm != nil && (fresh || (perm.logged != nil && !perm.logged.Load())) {
		pub, sealed := perm.publisher, perm.sealed
		lines = append(lines, Entry{Kind: KindPermit, Publisher: &pub, Permit: &sealed})
	}
	return lines, perm
}

// segmentLine is p's segment line, its source kept at src.
func segmentLine(p Published, src string) (Entry, error) {
	e := Entry{Kind: KindSegment, Seq: p.Seq, Source: src, Unsigned: p.Why}
	for _, n := range p.Names {
		e.Renditions = append(e.Renditions, RenditionFile{Name: n, File: n + "/" + strconv.FormatUint(p.Seq, 10) + ".ts"})
	}
	if p.Proof == "" {
		if e.Unsigned == "" {
			e.Unsigned = "no signed receipt"
		}
		return e, nil
	}
	var pr Proof
	if err := json.Unmarshal([]byte(p.Proof), &pr); err != nil {
		return Entry{}, fmt.Errorf("custody: proof of segment %d: %w", p.Seq, err)
	}
	e.Profiles, e.Proof, e.Unsigned = p.Profiles, &pr, ""
	return e, nil
}

// writeLines appends lines to the log at path in one write.
func writeLines(path string, lines []Entry) error {
	var buf []byte
	for _, l := range lines {
		j, err := json.Marshal(l)
		if err != nil {
			return err
		}
		buf = append(append(buf, j...), '\n')
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	return appendLines(f, buf)
}

// appendLines writes buf at the end of f, once per segment: a crash
// leaves whole lines, or a last partial line that readers skip. A write
// that fails (a full disk) is cut back off, so that the log's next line,
// once space returns, does not follow half a line.
func appendLines(f *os.File, buf []byte) error {
	info, err := f.Stat()
	if err != nil {
		return errors.Join(err, f.Close())
	}
	if _, err := f.Write(buf); err != nil {
		return errors.Join(err, f.Truncate(info.Size()), f.Close())
	}
	return f.Close()
}

// keepSource stores the signed source bytes at path: a hard link to
// linkFrom when it names a file with those very bytes on the same file
// system (one directory entry instead of a file's worth of writes), a
// copy otherwise.
func keepSource(path string, data []byte, linkFrom string) error {
	if linkFrom != "" {
		if st, err := os.Stat(linkFrom); err == nil && st.Size() == int64(len(data)) {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			_ = os.Remove(path) // a leftover of a crash
			if err := os.Link(linkFrom, path); err == nil {
				return nil
			}
		}
	}
	return writeAtomic(path, data)
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, data, 0o644)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp) // a full disk must not keep half a segment
	}
	return err
}
