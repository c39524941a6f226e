package verify

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/trust"
	"github.com/castnet/castnet/internal/verify/verifytest"
)

// The verify tests check a custody directory made as the live path makes
// it (verifytest), then changed as a forger or a failing disk would.

// vfProfiles are the fixture's ladder: the passthrough and two small
// rungs whose sizes need H.264 cropping (180 and 188 lines, 250 columns).
var vfProfiles = []transcode.Profile{
	transcode.SourceProfile(),
	{Name: "180p", Width: 320, Height: 180, Bitrate: 200_000, FPS: 25},
	{Name: "odd", Width: 250, Height: 250, Bitrate: 150_000, FPS: 15},
}

// vfFixture is a custody directory (pristine: tests Copy it before
// changing it) and the keys that made it.
type vfFixture struct {
	*verifytest.Custody
	other       sign.Key // no party's
	signedSeqs  []uint64
	unsignedSeq uint64
}

// newVerifyFixture publishes segments 0 and 1 signed (under a permit) and
// segment 2 unsigned.
func newVerifyFixture(t *testing.T) *vfFixture {
	t.Helper()
	c := verifytest.New(t, verifytest.Options{Domain: sign.DefaultDomain().WithChainID(big.NewInt(31337)),
		Profiles: vfProfiles, Permit: true})
	c.Publish(t, 0, "testsrc")
	c.Publish(t, 1, "testsrc2")
	// Segment 2: the transcode failed and the segment went out as received.
	c.Unsigned(t, 2, "smptebars", "transcode failed: test orchestrator unreachable")
	return &vfFixture{Custody: c, other: verifytest.Key(), signedSeqs: []uint64{0, 1}, unsignedSeq: 2}
}

// vfEditLog rewrites the log's entries through edit.
func vfEditLog(t *testing.T, dir string, edit func(e *trust.Entry)) {
	t.Helper()
	path := filepath.Join(dir, trust.CustodyFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, line := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
		e, err := parseEntry(line)
		if err != nil {
			t.Fatal(err)
		}
		edit(&e)
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, b...), '\n')
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// vfEditSegment edits the entry of seq.
func vfEditSegment(t *testing.T, dir string, seq uint64, edit func(e *trust.Entry)) {
	t.Helper()
	vfEditLog(t, dir, func(e *trust.Entry) {
		if e.Kind == trust.KindSegment && e.Seq == seq {
			edit(e)
		}
	})
}

// vfVerify runs the verifier on dir.
func vfVerify(t *testing.T, dir string) Report {
	t.Helper()
	rep, err := Run(t.Context(), DirSource(dir))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// vfSegmentReport is seq's report.
func vfSegmentReport(t *testing.T, rep Report, seq uint64) SegmentReport {
	t.Helper()
	for _, s := range rep.Segments {
		if s.Seq == seq {
			return s
		}
	}
	t.Fatalf("no segment %d in the report", seq)
	return SegmentReport{}
}

// vfWantMismatch checks that seq is a mismatch with a reason containing
// each of want, and that the report fails.
func vfWantMismatch(t *testing.T, rep Report, seq uint64, want ...string) {
	t.Helper()
	if rep.OK(false) {
		t.Errorf("report OK despite the tampering")
	}
	s := vfSegmentReport(t, rep, seq)
	if s.Status != StatusMismatch {
		t.Fatalf("segment %d is %s, want mismatch", seq, s.Status)
	}
	all := strings.Join(s.Reasons, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("segment %d reasons lack %q:\n%s", seq, w, all)
		}
	}
	for _, other := range rep.Segments {
		if other.Seq != seq && other.Status == StatusMismatch {
			t.Errorf("segment %d also mismatched: %q", other.Seq, other.Reasons)
		}
	}
	var buf bytes.Buffer
	rep.Write(&buf)
	t.Logf("report:\n%s", buf.String())
}

// reseal signs r with k, as a forger re-signs a record it changed.
func reseal(k sign.Key, d sign.Domain, r interface {
	sign.Record
	json.Marshaler
}) trust.Sealed {
	b := must(r.MarshalJSON())
	return trust.Sealed{Record: b, Signature: must(sign.SignRecord(k, d, r))}
}

// opened is what a sealed record says, failing the test when it does not
// open.
func opened[R any, PR interface {
	*R
	sign.Record
	json.Unmarshaler
}](t *testing.T, d sign.Domain, s trust.Sealed) R {
	t.Helper()
	o := trust.Open[R, PR](d, s)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	return o.Record
}

// forge re-signs seq's records after edit, each by the party that signed
// it: a lie every signer took part in.
func (fx *vfFixture) forge(t *testing.T, dir string, seq uint64, edit func(*sign.Segment, *sign.TranscodeReceipt, *sign.TranscodeResult)) {
	t.Helper()
	vfEditSegment(t, dir, seq, func(e *trust.Entry) {
		pf := e.Proof
		seg := opened[sign.Segment](t, fx.Domain, pf.Segment)
		rc := opened[sign.TranscodeReceipt](t, fx.Domain, pf.Answer.Receipt)
		res := opened[sign.TranscodeResult](t, fx.Domain, pf.Answer.Result)
		edit(&seg, &rc, &res)
		pf.Segment = reseal(fx.Broadcaster, fx.Domain, seg)
		pf.Answer.Receipt = reseal(fx.Orchestrator, fx.Domain, rc)
		pf.Answer.Result = reseal(fx.Transcoder, fx.Domain, res)
	})
}

// vfRead reads a file.
func vfRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vfPixels are the H.264 pixels of files in dir.
func vfPixels(t *testing.T, dir string, files ...string) uint64 {
	t.Helper()
	var total uint64
	for _, f := range files {
		pic, err := trust.MeasurePicture(vfRead(t, filepath.Join(dir, f)))
		if err != nil {
			t.Fatal(err)
		}
		total += pic.Pixels
	}
	return total
}
