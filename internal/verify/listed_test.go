package verify

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/verify/verifytest"
)

// TestPlaylistEntryWithoutARecordFails: a segment viewers were served
// (the manifest lists it) that the custody log has no line for fails the
// report, by its seq; a session whose manifest is gone is only noted.
func TestPlaylistEntryWithoutARecordFails(t *testing.T) {
	c := verifytest.New(t, verifytest.Options{Domain: sign.DefaultDomain(), Profiles: vfProfiles})
	c.Publish(t, 0, "testsrc")
	c.PlayOnly(t, 1, "smptebars")
	c.Publish(t, 2, "testsrc2")
	rep := vfVerify(t, c.Dir)
	want := "segment 1 is in the playlists without a custody record"
	if rep.OK(false) || !slices.Contains(rep.Problems, want) || len(rep.Problems) != 1 {
		t.Errorf("OK %v problems %q, want only %q", rep.OK(false), rep.Problems, want)
	}
	dir := c.Copy(t)
	for _, f := range []string{hls.ManifestFile, hls.JournalFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	rep = vfVerify(t, dir)
	if !rep.OK(true) || !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "not compared") }) {
		t.Errorf("without a manifest: OK %v notes %q, want OK and a note", rep.OK(true), rep.Notes)
	}
}
