package hls

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"
)

// ManifestFile and JournalFile hold a session's segment list: what its
// playlists list (castnet verify compares it with the custody log).
const (
	ManifestFile = "stream.json"
	JournalFile  = "segments.jsonl"
)

// File names inside a stream's directory.
const (
	manifestFile = ManifestFile
	journalFile  = JournalFile
	playlistFile = "index.m3u8"
)

// manifestVersion is Manifest.Version as this package writes it.
const manifestVersion = 1

// maxSegmentDuration bounds a segment's duration; anything longer is a
// caller's bug (a clock jump), not a segment.
const maxSegmentDuration = 10 * time.Minute

// Manifest describes one session of a stream: what stream.json holds plus
// the segments journalled since it was written. A restarted node rebuilds
// the session from it, and a verify tool can read it with LoadManifest.
type Manifest struct {
	// Version is the manifest format, 1.
	Version int `json:"version"`
	// Stream is the stream name, equal to its directory's name.
	Stream string `json:"stream"`
	// Source is the rendition every other rendition falls back to.
	Source string `json:"source"`
	// Started is when Open created the session.
	Started time.Time `json:"started"`
	// Ended is zero while the session is live.
	Ended time.Time `json:"ended,omitzero"`
	// TargetDuration is EXT-X-TARGETDURATION; it is derived from the
	// segment durations and written for readers' convenience.
	TargetDuration int `json:"targetDuration,omitempty"`
	// FirstUniqueSeq is the lowest segment number whose URL no earlier
	// session of this stream name used.
	FirstUniqueSeq uint64 `json:"firstUniqueSeq,omitempty"`
	// NextSeq, when above the last segment's number plus one, is one past
	// a segment number the session published parts of ({seq}.{i}.ts) but
	// never completed: the next session must not reuse those part URLs.
	NextSeq uint64 `json:"nextSeq,omitempty"`
	// Variants is the variant list, source included.
	Variants []Variant `json:"variants"`
	// Segments lists the stored segment numbers in order.
	Segments []SegmentRecord `json:"segments"`
}

// SegmentRecord is one stored segment number.
type SegmentRecord struct {
	// Seq is the segment number, the file name {seq}.ts.
	Seq uint64 `json:"seq"`
	// Duration is in seconds.
	Duration float64 `json:"duration"`
	// Start is the wall-clock time of the segment's first frame
	// (EXT-X-PROGRAM-DATE-TIME), when known.
	Start time.Time `json:"start,omitzero"`
	// Gap says Seq did not follow the previous segment's number.
	Gap bool `json:"gap,omitempty"`
	// Sizes holds the bytes stored per rendition; a rendition absent here
	// plays the source's segment instead.
	Sizes map[string]int64 `json:"sizes"`
}

// duration converts the record's seconds back to a time.Duration.
func (r SegmentRecord) duration() time.Duration {
	return time.Duration(math.Round(r.Duration * float64(time.Second)))
}

// LoadManifest reads the session in a stream directory: stream.json merged
// with segments.jsonl.
func LoadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return nil, err
	}
	journal, err := os.ReadFile(filepath.Join(dir, journalFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return ParseManifest(data, journal)
}

// ParseManifest parses stream.json and the journal that follows it, and
// validates the result. Journal records at or below the manifest's last
// segment number are skipped (a crash between rewriting stream.json and
// removing the journal leaves them), and an unterminated last journal line
// is ignored (a crash in the middle of an append leaves it).
func ParseManifest(manifest, journal []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptManifest, manifestFile, err)
	}
	recs, err := parseJournal(journal)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if n := len(m.Segments); n == 0 || r.Seq > m.Segments[n-1].Seq {
			m.Segments = append(m.Segments, r)
		}
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func parseJournal(data []byte) ([]SegmentRecord, error) {
	var recs []SegmentRecord
	for len(data) > 0 {
		line, rest, complete := bytes.Cut(data, []byte{'\n'})
		if !complete {
			break // torn final append
		}
		data = rest
		var r SegmentRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorruptManifest, journalFile, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// validate checks every name that will become a path component and every
// figure that will be rendered, so a tampered manifest cannot make New
// serve or write outside its directory.
func (m *Manifest) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorruptManifest}, args...)...)
	}
	if m.Version != manifestVersion {
		return bad("version %d", m.Version)
	}
	if !validStreamName(m.Stream) || !validRenditionName(m.Source) {
		return bad("stream %q source %q", m.Stream, m.Source)
	}
	vs, err := normalizeVariants(m.Variants, m.Source)
	if err != nil {
		return bad("%v", err)
	}
	if len(vs) != len(m.Variants) {
		return bad("source %q not among variants", m.Source)
	}
	for i, r := range m.Segments {
		if err := r.validate(m.Source); err != nil {
			return bad("segment %d: %v", r.Seq, err)
		}
		if i > 0 && r.Seq <= m.Segments[i-1].Seq {
			return bad("segment %d after %d", r.Seq, m.Segments[i-1].Seq)
		}
	}
	return nil
}

func (r SegmentRecord) validate(source string) error {
	if d := r.duration(); math.IsNaN(r.Duration) || d <= 0 || d > maxSegmentDuration {
		return fmt.Errorf("duration %v", r.Duration)
	}
	if r.Sizes[source] <= 0 {
		return fmt.Errorf("no source bytes")
	}
	for name, n := range r.Sizes {
		if !validRenditionName(name) || n <= 0 {
			return fmt.Errorf("rendition %q size %d", name, n)
		}
	}
	return nil
}

// writeManifest replaces stream.json and then drops the journal, whose
// records the new stream.json now holds.
func writeManifest(dir string, m *Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, manifestFile), append(data, '\n')); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, journalFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// appendJournal adds one record to segments.jsonl. Appending keeps the cost
// of a segment constant, where rewriting stream.json would grow with the
// session.
func appendJournal(dir string, r SegmentRecord) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, journalFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	return errors.Join(err, f.Close())
}

// writeFileAtomic writes data to a temporary file in the target's directory
// and renames it into place: a reader sees the old file or the new one,
// never a partial one. The temporary name starts with '.', which no served
// name can, so half-written files are never served.
//
// The temporary name is fixed (".NAME.tmp"): every file of a stream has
// one writer, under the stream's lock, and on ext4 creating a fixed name
// costs about a tenth of a random one (BENCHMARKS.md, ingest). A leftover
// from a crash is simply overwritten.
func writeFileAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
