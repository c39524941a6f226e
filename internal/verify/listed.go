package verify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/castnet/castnet/internal/playback/hls"
)

// maxManifestFile bounds stream.json and segments.jsonl read for checking.
const maxManifestFile = 64 << 20

// What viewers were served is what the session's manifest (stream.json
// and its journal, segments.jsonl) lists: every segment there is in the
// playlists. One the custody log has no line for was published without
// the record that vouches for it (the log could not be written, say on a
// full disk), and is a problem of the whole report. A session stored
// before manifests, or read from a source that does not serve them, is
// compared with nothing, and a note says so.

// unrecorded checks that every segment the manifest lists has a custody
// line.
func (v *verifier) unrecorded(ctx context.Context, logged []SegmentReport, rep *Report) {
	m, err := v.manifest(ctx)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rep.Notes = append(rep.Notes, "no "+hls.ManifestFile+": the playlists were not compared with the log")
		return
	case err != nil:
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v", hls.ManifestFile, err))
		return
	}
	have := make(map[uint64]bool, len(logged))
	for _, s := range logged {
		have[s.Seq] = true
	}
	for _, s := range m.Segments {
		if !have[s.Seq] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("segment %d is in the playlists without a custody record", s.Seq))
		}
	}
}

// manifest reads the session's manifest and journal (a missing journal
// is an empty one).
func (v *verifier) manifest(ctx context.Context) (*hls.Manifest, error) {
	data, err := readAll(ctx, v.src, hls.ManifestFile, maxManifestFile)
	if err != nil {
		return nil, err
	}
	journal, err := readAll(ctx, v.src, hls.JournalFile, maxManifestFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return hls.ParseManifest(data, journal)
}
