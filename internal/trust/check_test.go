package trust

import (
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// ckClaim is an honest claim for real renditions of job: the broadcaster's
// record, the receipt and the result as an honest orchestrator and
// transcoder sign them.
func ckClaim(t *testing.T, job transcode.Job, in remote.SegmentSum, rends []transcode.Rendition, px uint64) Claim {
	t.Helper()
	d, bKey, oKey, tKey := utDomain(), vfKey(t), vfKey(t), vfKey(t)
	rc, res := utHonest(in, rends, px, oKey.Address, tKey.Address)
	return Claim{Broadcaster: bKey.Address, Listed: "the answer", Job: &job, Duration: time.Second, Renditions: received(rends),
		Segment: Open[sign.Segment](d, mustSeal(t, bKey, d, utSegment(job, in))),
		Receipt: Open[sign.TranscodeReceipt](d, mustSeal(t, oKey, d, rc)),
		Result:  Open[sign.TranscodeResult](d, mustSeal(t, tKey, d, res))}
}

// TestCheckSegment: each rule CheckSegment holds a claim to, broken once,
// names itself in the failure (the sealer's refusal) and says how (the
// verifier's reason); an honest claim has no failure and its pixels.
func TestCheckSegment(t *testing.T) {
	_, in, rends, px := realRenditions(t)
	job := utJob(1)
	stranger := vfKey(t).Address
	for name, c := range map[string]struct {
		edit       func(c *Claim)
		rule, want string
	}{
		"segment record by another": {func(c *Claim) { c.Segment.Signer = stranger }, ruleBroadcaster, "not the broadcaster"},
		"record that does not open": {func(c *Claim) { c.Result.Err = ErrRecord }, ruleRecord, "transcode result: bad signed record"},
		"receipt by another":        {func(c *Claim) { c.Receipt.Signer = stranger }, ruleParties, "but it names orchestrator"},
		"result names another":      {func(c *Claim) { c.Result.Record.Transcoder = stranger }, ruleParties, "but it names transcoder"},
		"for other bytes":           {func(c *Claim) { c.Result.Record.Segment = common.Hash{1} }, ruleInput, "transcode result is for segment"},
		"renditions out of order": {func(c *Claim) { c.Renditions[1], c.Renditions[2] = c.Renditions[2], c.Renditions[1] },
			ruleRenditions, "the renditions are out of order"},
		"a rendition short": {func(c *Claim) {
			c.Receipt.Record.Renditions, c.Result.Record.Renditions = c.Receipt.Record.Renditions[:2], c.Result.Record.Renditions[:2]
		},
			ruleRenditions, "receipt hashes 2 renditions, the answer lists 3"},
		"pixels claimed": {func(c *Claim) { c.Receipt.Record.Pixels++ }, "it claims", "pixels: the receipt claims"},
		"a size not asked": {func(c *Claim) { c.Job.SourceWidth, c.Job.SourceHeight = 1280, 720 },
			ruleBilling, "rendition 180p: its SPS says 240x180, the job asked for 320x180"},
		"more frames than asked": {func(c *Claim) { c.Duration = 100 * time.Millisecond }, ruleBilling, "frames, above the"},
	} {
		t.Run(name, func(t *testing.T) {
			cl := ckClaim(t, job, in, rends, px)
			c.edit(&cl)
			got := CheckSegment(cl)
			if len(got.Failures) == 0 {
				t.Fatal("no failure")
			}
			f := got.Failures[0]
			if !strings.HasPrefix(f.Rule, c.rule) || !strings.Contains(f.Reason, c.want) || f.Error() != f.Rule+": "+f.Reason {
				t.Errorf("first failure %q, want rule %q with %q (all: %q)", f.Error(), c.rule, c.want, got.Failures)
			}
		})
	}
	t.Run("honest", func(t *testing.T) {
		got := CheckSegment(ckClaim(t, job, in, rends, px))
		if len(got.Failures) != 0 || got.Pixels == nil || *got.Pixels != px {
			t.Errorf("failures %q, pixels %v, want none and %d", got.Failures, got.Pixels, px)
		}
	})
	// What a verifier may not know: a file it could not read, the job, the
	// duration. The rules that need it are skipped, not failed.
	t.Run("unknowns", func(t *testing.T) {
		cl := ckClaim(t, job, in, rends, px)
		cl.Renditions[2].Unread, cl.Duration = true, 0
		got := CheckSegment(cl)
		if len(got.Failures) != 0 || got.Pixels != nil {
			t.Errorf("a file unread, no duration: failures %q, pixels %v", got.Failures, got.Pixels)
		}
		cl = ckClaim(t, job, in, rends, px)
		cl.Job = nil
		if got := CheckSegment(cl); len(got.Failures) != 0 || got.Pixels == nil {
			t.Errorf("no job: failures %q, pixels %v", got.Failures, got.Pixels)
		}
	})
}
