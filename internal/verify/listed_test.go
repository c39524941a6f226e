package verify

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/trust"
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

// TestReconnectedPublisherContinuesTheLog: a publisher that reconnected
// under a new permit continues the log after a permit line of its own;
// each session's segments check out against their own permit, and a
// segment moved before the permit that vouches for it does not.
func TestReconnectedPublisherContinuesTheLog(t *testing.T) {
	c := verifytest.New(t, verifytest.Options{Domain: sign.DefaultDomain(), Profiles: vfProfiles, Permit: true})
	c.Publish(t, 0, "testsrc")
	c.Reconnect(t, 8)
	c.Publish(t, 1, "smptebars")
	rep := vfVerify(t, c.Dir)
	if !rep.OK(true) || len(rep.Permits) != 2 || rep.Permits[1].Nonce != "8" {
		t.Fatalf("OK %v problems %q permits %+v", rep.OK(true), rep.Problems, rep.Permits)
	}
	// Move segment 1's line above the second permit line: its record
	// links the second permit, which is not yet in effect there.
	path := filepath.Join(c.Dir, trust.CustodyFile)
	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("log has %d lines, want node, permit, segment, permit, segment", len(lines))
	}
	lines[3], lines[4] = lines[4], lines[3]
	verifytest.Write(t, path, []byte(strings.Join(lines, "\n")+"\n"))
	rep = vfVerify(t, c.Dir)
	if rep.OK(false) {
		t.Error("a segment checked against the wrong session's permit passed")
	}
}
