package hls

import (
	"testing"

	"github.com/castnet/castnet/internal/playback/hls/hlstest"
)

// readLL parses a media playlist with hlstest, failing the test on a line
// it cannot read.
func readLL(t *testing.T, body []byte) hlstest.Playlist {
	t.Helper()
	p, err := hlstest.Read(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return p
}

// checkLL fails the test for every LL-HLS rule p breaks.
func checkLL(t *testing.T, p hlstest.Playlist, rules hlstest.Rules) {
	t.Helper()
	if err := hlstest.Check(p, rules); err != nil {
		t.Error(err)
	}
}

// checkReports fails the test for what breaks the rules across renditions.
func checkReports(t *testing.T, lists map[string]hlstest.Playlist) {
	t.Helper()
	if err := hlstest.CheckReports(lists); err != nil {
		t.Error(err)
	}
}
