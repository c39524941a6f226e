package verify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/trust"
)

// segment checks one segment line: what only the log shows here, the
// records and the renditions by trust.CheckSegment.
func (v *verifier) segment(ctx context.Context, l logLine) (SegmentReport, signers) {
	r := SegmentReport{Line: l.n, Seq: l.e.Seq, Status: StatusOK}
	for _, rf := range l.e.Renditions {
		r.Renditions = append(r.Renditions, rf.Name)
	}
	if l.e.Proof == nil {
		r.Status, r.Reasons = StatusUnsigned, []string{l.e.Unsigned}
		return r, signers{}
	}
	c := v.open(l)
	c.line()
	src := c.source(ctx)
	c.files(ctx)
	c.job(src)
	got := trust.CheckSegment(c.claim)
	for _, f := range got.Failures {
		c.reasons = append(c.reasons, f.Reason)
	}
	r.Reasons, r.Pixels = c.reasons, got.Pixels
	c.describe(&r)
	if len(r.Reasons) > 0 {
		r.Status = StatusMismatch
	}
	return r, c.signers()
}

// lineCheck is one signed segment line being checked: its entry, the claim
// gathered from it for trust.CheckSegment, and the reasons found so far.
type lineCheck struct {
	v      *verifier
	e      trust.Entry
	claim  trust.Claim
	linked bool // the segment record links the log's permit
	// permitted is the permit in effect at the line: the last permit line
	// before it (nil: none, an anonymous session).
	permitted *logPermit
	reasons   []string
}

func (c *lineCheck) fail(format string, args ...any) {
	c.reasons = append(c.reasons, fmt.Sprintf(format, args...))
}

// seg is the segment record, when it opened.
func (c *lineCheck) seg() (sign.Segment, bool) {
	return c.claim.Segment.Record, c.claim.Segment.Err == nil
}

// open opens the line's records.
func (v *verifier) open(l logLine) *lineCheck {
	e, pf := l.e, l.e.Proof
	c := &lineCheck{v: v, e: e, permitted: v.permitAt(l.n), claim: trust.Claim{Broadcaster: v.b, Listed: "the log",
		Segment: trust.Open[sign.Segment](v.d, pf.Segment),
		Receipt: trust.Open[sign.TranscodeReceipt](v.d, pf.Answer.Receipt),
		Result:  trust.Open[sign.TranscodeResult](v.d, pf.Answer.Result)}}
	if seg, ok := c.seg(); ok {
		c.claim.Duration = trust.SignedDuration(seg)
	}
	return c
}

// line checks the log line against its segment record: the seq, the
// profiles logged, the renditions among them, and the permit linked. The
// sealer needs none of this: it signs the record from the job itself.
func (c *lineCheck) line() {
	seg, ok := c.seg()
	if !ok {
		return
	}
	if seg.Seq != c.e.Seq {
		c.fail("segment record is for seq %d, the log line for seq %d", seg.Seq, c.e.Seq)
	}
	if len(c.e.Profiles) > 0 {
		if trust.ProfilesHash(c.e.Profiles) != seg.Profiles {
			c.fail("the profiles logged are not the ones the segment record commits to")
		}
		for _, rf := range c.e.Renditions {
			if _, ok := c.profile(rf.Name); !ok {
				c.fail("rendition %s was not asked for", rf.Name)
			}
		}
	}
	c.permit(seg.Permit)
}

// profile is the logged profile of a rendition.
func (c *lineCheck) profile(name string) (transcode.Profile, bool) {
	i := slices.IndexFunc(c.e.Profiles, func(p transcode.Profile) bool { return p.Name == name })
	if i < 0 {
		return transcode.Profile{Name: name}, false
	}
	return c.e.Profiles[i], true
}

// permit checks the permit the segment record links against the one in
// effect at its line.
func (c *lineCheck) permit(linked common.Hash) {
	pm := c.permitted
	switch {
	case pm == nil && linked != (common.Hash{}):
		c.fail("segment record links permit %s, but the log has no permit", linked.Hex())
	case pm != nil && linked == (common.Hash{}):
		c.fail("segment record links no permit, but the log's permit is %s", pm.digest.Hex())
	case pm != nil && linked != pm.digest:
		c.fail("segment record links permit %s, not the log's permit %s", linked.Hex(), pm.digest.Hex())
	case pm != nil:
		c.linked = true
	}
}

// source reads the source segment again and checks it hashes to what the
// record signs (the sealer hashed the very bytes it sent, so only the
// verifier reads them back). It returns the bytes once they check out.
func (c *lineCheck) source(ctx context.Context) []byte {
	src, err := readAll(ctx, c.v.src, c.e.Source, maxSegmentFile)
	seg, ok := c.seg()
	switch {
	case err != nil:
		c.fail("source %s: %v", c.e.Source, fileErr(err))
		return nil
	case !ok:
		return nil
	}
	if h := sign.Keccak(src); h != seg.Hash {
		c.fail("source %s: keccak256 %s, the signed segment record says %s", c.e.Source, h.Hex(), seg.Hash.Hex())
		return nil
	}
	return src
}

// files reads the renditions the line names, each once, each apart from
// the source (online, remote.ReadRenditions refuses a rendition sent twice
// before the sealer sees it).
func (c *lineCheck) files(ctx context.Context) {
	seen := map[string]bool{}
	for _, rf := range c.e.Renditions {
		label := fmt.Sprintf("rendition %s (%s)", rf.Name, rf.File)
		if seen[rf.Name] {
			c.fail("%s: the log names this rendition twice", label)
		}
		seen[rf.Name] = true
		if rf.File == c.e.Source {
			c.fail("%s: the signed source segment is kept at this same path, so one file overwrote the other", label)
		}
		p, _ := c.profile(rf.Name)
		data, err := readAll(ctx, c.v.src, rf.File, maxSegmentFile)
		if err != nil {
			c.fail("%s: %v", label, fileErr(err))
		}
		c.claim.Renditions = append(c.claim.Renditions, trust.Received{Profile: p, File: rf.File, Data: data, Unread: err != nil})
	}
}

// job is what the broadcaster asked, as far as the log shows it: the
// profiles logged, once the record's hash vouches for them and every
// rendition is among them, and the size of the source's picture, once its
// bytes check out (the broadcaster took it from the same SPS). Without
// them what the pixels bill for is not checked (the line fails already, or
// logs no profiles).
func (c *lineCheck) job(src []byte) {
	seg, ok := c.seg()
	if !ok || !c.vouched(seg) {
		return
	}
	job := &transcode.Job{Stream: seg.Stream, Seq: seg.Seq, Profiles: c.e.Profiles}
	if c.transcoded() {
		if src == nil {
			return
		}
		pic, err := trust.MeasurePicture(src)
		if err != nil {
			c.fail("source %s: its picture size cannot be read, so the renditions' sizes cannot be checked: %v", c.e.Source, err)
			return
		}
		job.SourceWidth, job.SourceHeight = pic.Width, pic.Height
	}
	c.claim.Job = job
}

// vouched reports whether the logged profiles are those seg commits to,
// with a profile for every rendition.
func (c *lineCheck) vouched(seg sign.Segment) bool {
	if len(c.e.Profiles) == 0 || trust.ProfilesHash(c.e.Profiles) != seg.Profiles {
		return false
	}
	for _, rf := range c.e.Renditions {
		if _, ok := c.profile(rf.Name); !ok {
			return false
		}
	}
	return true
}

// transcoded reports whether a rendition is transcoded (not the source's
// remux), so that its size depends on the source's.
func (c *lineCheck) transcoded() bool {
	return slices.ContainsFunc(c.claim.Renditions, func(r trust.Received) bool { return !r.Profile.IsSource() })
}

// describe fills in what the records say: duration, orchestrator and
// transcoder.
func (c *lineCheck) describe(r *SegmentReport) {
	if seg, ok := c.seg(); ok {
		r.DurationMs = seg.DurationMs
	}
	if rc := c.claim.Receipt; rc.Err == nil {
		o := rc.Record.Orchestrator
		r.Orchestrator = &o
	}
	if res := c.claim.Result; res.Err == nil {
		t := res.Record.Transcoder
		r.Transcoder = &t
	}
}

// signers are who signed the line's records, for the parties.
func (c *lineCheck) signers() signers {
	var w signers
	if seg, ok := c.seg(); ok {
		w.segment, w.stream = c.claim.Segment.Signer, seg.Stream
	}
	if c.claim.Receipt.Err == nil {
		w.receipt = c.claim.Receipt.Signer
	}
	if c.claim.Result.Err == nil {
		w.result = c.claim.Result.Signer
	}
	w.linked = c.linked
	return w
}

// fileErr words a file error for a reason.
func fileErr(err error) string {
	switch {
	case errors.Is(err, ErrPath):
		return err.Error()
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	}
	return err.Error()
}
