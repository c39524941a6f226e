package trust

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
)

// `castnet verify` replays a custody log: every stored file is hashed
// again, every signature recovered, and the chain publisher → broadcaster
// → orchestrator → transcoder followed for each segment.

// maxSegmentFile bounds a source or rendition file read for checking.
const maxSegmentFile = 512 << 20

// Status is how a segment checks out.
type Status string

// Segment statuses.
const (
	StatusOK       Status = "ok"
	StatusMismatch Status = "mismatch"
	StatusUnsigned Status = "unsigned"
)

// Report is what Verify found.
type Report struct {
	// Source is where the files were read.
	Source string `json:"source"`
	// Stream is the stream the segment records name.
	Stream      string         `json:"stream"`
	Domain      sign.Domain    `json:"domain"`
	Broadcaster common.Address `json:"broadcaster"`
	// Permit is the publisher's permit, when the stream was published
	// under one.
	Permit *PermitReport `json:"permit,omitempty"`
	// Problems are what does not check out in the log as a whole (the
	// node and permit lines, the order of lines); any fails the report.
	Problems []string `json:"problems,omitempty"`
	// Notes are what a reader should know but fails nothing (a torn final
	// line that was skipped).
	Notes    []string        `json:"notes,omitempty"`
	Segments []SegmentReport `json:"segments"`
	Totals   Totals          `json:"totals"`
	// Parties are the addresses that signed, with the number of segments
	// each vouched for.
	Parties []Party `json:"parties"`
}

// PermitReport is the permit line of a log.
type PermitReport struct {
	Publisher common.Address `json:"publisher"`
	// Signer is the address the permit's signature recovers (the zero
	// address when it does not).
	Signer           common.Address `json:"signer"`
	Stream           string         `json:"stream"`
	Broadcaster      common.Address `json:"broadcaster"`
	Expires          string         `json:"expires"`
	MaxPricePerPixel string         `json:"maxPricePerPixel"`
	Nonce            string         `json:"nonce"`
	Digest           common.Hash    `json:"digest"`
}

// SegmentReport is how one segment checks out.
type SegmentReport struct {
	Line   int    `json:"line"`
	Seq    uint64 `json:"seq"`
	Status Status `json:"status"`
	// Reasons say every way a mismatched segment fails, or why an
	// unsigned one is.
	Reasons []string `json:"reasons,omitempty"`
	// Renditions are the rendition names in receipt order.
	Renditions []string `json:"renditions,omitempty"`
	DurationMs uint64   `json:"durationMs,omitempty"`
	// Pixels are counted from the renditions' H.264 streams (absent when
	// a rendition could not be read or parsed).
	Pixels       *uint64         `json:"pixels,omitempty"`
	Orchestrator *common.Address `json:"orchestrator,omitempty"`
	Transcoder   *common.Address `json:"transcoder,omitempty"`
}

// Totals count the segments by status.
type Totals struct {
	Segments   int `json:"segments"`
	OK         int `json:"ok"`
	Mismatched int `json:"mismatched"`
	Unsigned   int `json:"unsigned"`
	// Pixels is the sum over the segments that check out.
	Pixels uint64 `json:"pixels"`
}

// Party is an address seen signing, in one role.
type Party struct {
	Role     string         `json:"role"` // publisher, broadcaster, orchestrator, transcoder
	Address  common.Address `json:"address"`
	Segments int            `json:"segments"`
}

// Roles of parties.
const (
	RolePublisher    = "publisher"
	RoleBroadcaster  = "broadcaster"
	RoleOrchestrator = "orchestrator"
	RoleTranscoder   = "transcoder"
)

// OK reports whether everything checks out: no problem with the log and
// no mismatched segment; strict also fails unsigned segments.
func (r *Report) OK(strict bool) bool {
	return len(r.Problems) == 0 && r.Totals.Mismatched == 0 && (!strict || r.Totals.Unsigned == 0)
}

// VerifyOptions tune VerifyWith.
type VerifyOptions struct {
	// Broadcaster, when set, is the address the log must be kept by: a log
	// naming another broadcaster is a problem. Without it the log's own
	// node line is trusted to name its broadcaster.
	Broadcaster common.Address
	// Progress, when set, is called as segments are checked, with how
	// many are done of how many there are (from one goroutine at a time).
	Progress func(done, total int)
	// Workers check segments in parallel (default: GOMAXPROCS, at most 8).
	Workers int
}

// Verify checks a stream session's custody log and files: see
// VerifyWith.
func Verify(ctx context.Context, src Source) (Report, error) {
	return VerifyWith(ctx, src, VerifyOptions{})
}

// VerifyWith reads custody.jsonl from src and checks every segment: the
// source file's keccak256 against the broadcaster's signed Segment, the
// rendition files against the orchestrator's receipt and the transcoder's
// result, the pixel count against the renditions' H.264 streams, and who
// signed each record. What does not check out is in the report; the error
// is for a log that cannot be read at all (missing, a garbage line).
func VerifyWith(ctx context.Context, src Source, opt VerifyOptions) (Report, error) {
	rep := Report{Source: src.String(), Segments: []SegmentReport{}, Parties: []Party{}}
	rc, err := src.Open(ctx, CustodyFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("no %s in %s: give a stream session's directory (castnet-data/hls/STREAM) or its custody URL (http://HOST/custody/STREAM/): %w",
				CustodyFile, src, err)
		}
		return rep, err
	}
	lines, notes, err := readLog(ctx, rc)
	rc.Close()
	if err != nil {
		return rep, err
	}
	rep.Notes = notes
	if len(lines) == 0 {
		return rep, fmt.Errorf("%w: %s is empty", ErrLog, CustodyFile)
	}
	node := lines[0]
	if node.e.Kind != KindNode {
		return rep, fmt.Errorf("%w: line %d is a %s line: a log starts with its node line", ErrLog, node.n, node.e.Kind)
	}
	v := &verifier{src: src, d: *node.e.Domain, b: *node.e.Broadcaster}
	rep.Domain, rep.Broadcaster = v.d, v.b
	if v.b == (common.Address{}) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: the broadcaster is the zero address", node.n))
	}
	if opt.Broadcaster != (common.Address{}) && opt.Broadcaster != v.b {
		rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: the log is kept by broadcaster %s, not %s", node.n, v.b.Hex(), opt.Broadcaster.Hex()))
	}
	var segs []logLine
	for i, l := range lines[1:] {
		switch l.e.Kind {
		case KindNode:
			rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: a second node line", l.n))
		case KindPermit:
			if i != 0 {
				rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: a permit line after the log's start (a node writes it right after the node line)", l.n))
				continue
			}
			rep.Permit = v.permit(l, &rep.Problems)
		case KindSegment:
			segs = append(segs, l)
		}
	}
	if len(segs) == 0 {
		rep.Notes = append(rep.Notes, "the log has no segments yet")
	}
	rep.Segments = v.segments(ctx, segs, opt)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	v.streamWide(&rep)
	rep.tally(v)
	return rep, nil
}

// verifier holds what the node and permit lines say.
type verifier struct {
	src Source
	d   sign.Domain
	b   common.Address
	// logPermit is the log's permit (nil without one); digest its EIP-712
	// digest, the value segment records link to.
	logPermit *sign.Permit
	digest    common.Hash
	// signers are each segment's recovered signers, for the parties.
	signers []signers
}

// signers are the recovered signers of one segment's records.
type signers struct {
	segment, receipt, result common.Address
	stream                   string
	linked                   bool // the segment record links the log's permit
}

// permit checks the permit line: its signature recovers the publisher it
// names, it is for this broadcaster.
func (v *verifier) permit(l logLine, problems *[]string) *PermitReport {
	add := func(format string, args ...any) {
		*problems = append(*problems, fmt.Sprintf("line %d: permit: ", l.n)+fmt.Sprintf(format, args...))
	}
	p, who, err := open[sign.Permit](v.d, *l.e.Permit)
	pr := &PermitReport{Publisher: *l.e.Publisher}
	if err != nil {
		add("%v", err)
		if p.Expires == nil { // the record did not decode
			return pr
		}
	}
	pr.Signer, pr.Stream, pr.Broadcaster = who, p.Stream, p.Broadcaster
	pr.Expires, pr.MaxPricePerPixel, pr.Nonce = p.Expires.String(), p.MaxPricePerPixel.String(), p.Nonce.String()
	pr.Digest = sign.PermitDigest(v.d, p)
	if err == nil && who != pr.Publisher {
		add("signed by %s, not the publisher %s the log names", who.Hex(), pr.Publisher.Hex())
	}
	if p.Broadcaster != v.b {
		add("it lets broadcaster %s take the stream, not this log's %s", p.Broadcaster.Hex(), v.b.Hex())
	}
	v.logPermit, v.digest = &p, pr.Digest
	return pr
}

// segments checks each segment line, in parallel, in order.
func (v *verifier) segments(ctx context.Context, segs []logLine, opt VerifyOptions) []SegmentReport {
	out := make([]SegmentReport, len(segs))
	v.signers = make([]signers, len(segs))
	workers := opt.Workers
	if workers <= 0 {
		workers = min(runtime.GOMAXPROCS(0), 8)
	}
	var (
		mu   sync.Mutex
		done int
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range min(workers, max(len(segs), 1)) {
		wg.Go(func() {
			for i := range next {
				out[i], v.signers[i] = v.segment(ctx, segs[i])
				if opt.Progress != nil {
					mu.Lock()
					done++
					opt.Progress(done, len(segs))
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range segs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return out
}

// segment checks one segment line.
func (v *verifier) segment(ctx context.Context, l logLine) (SegmentReport, signers) {
	e := l.e
	r := SegmentReport{Line: l.n, Seq: e.Seq, Status: StatusOK}
	var who signers
	for _, rf := range e.Renditions {
		r.Renditions = append(r.Renditions, rf.Name)
	}
	if e.Proof == nil {
		r.Status, r.Reasons = StatusUnsigned, []string{e.Unsigned}
		return r, who
	}
	fail := func(format string, args ...any) {
		r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
	}
	pf := e.Proof

	// The broadcaster's segment record, and the source bytes it signs.
	seg, segBy, segErr := open[sign.Segment](v.d, pf.Segment)
	switch {
	case segErr != nil:
		fail("segment record: %v", segErr)
	case segBy != v.b:
		fail("segment record signed by %s, not the broadcaster %s", segBy.Hex(), v.b.Hex())
	}
	if segErr == nil {
		who.segment, who.stream = segBy, seg.Stream
		r.DurationMs = seg.DurationMs
		if seg.Seq != e.Seq {
			fail("segment record is for seq %d, the log line for seq %d", seg.Seq, e.Seq)
		}
		if len(e.Profiles) > 0 {
			if ProfilesHash(e.Profiles) != seg.Profiles {
				fail("the profiles logged are not the ones the segment record commits to")
			}
			for _, rf := range e.Renditions {
				if !slices.ContainsFunc(e.Profiles, func(p transcode.Profile) bool { return p.Name == rf.Name }) {
					fail("rendition %s was not asked for", rf.Name)
				}
			}
		}
		switch {
		case v.logPermit == nil && seg.Permit != (common.Hash{}):
			fail("segment record links permit %s, but the log has no permit", seg.Permit.Hex())
		case v.logPermit != nil && seg.Permit != v.digest:
			if seg.Permit == (common.Hash{}) {
				fail("segment record links no permit, but the log's permit is %s", v.digest.Hex())
			} else {
				fail("segment record links permit %s, not the log's permit %s", seg.Permit.Hex(), v.digest.Hex())
			}
		case v.logPermit != nil:
			who.linked = true
		}
	}
	src, err := readAll(ctx, v.src, e.Source, maxSegmentFile)
	switch {
	case err != nil:
		fail("source %s: %v", e.Source, fileErr(err))
	case segErr == nil:
		if h := sign.Keccak(src); h != seg.Hash {
			fail("source %s: keccak256 %s, the signed segment record says %s", e.Source, h.Hex(), seg.Hash.Hex())
		}
	}

	// The orchestrator's receipt over the transcoder's result.
	rc, rcBy, rcErr := open[sign.TranscodeReceipt](v.d, pf.Answer.Receipt)
	if rcErr != nil {
		fail("receipt: %v", rcErr)
	} else {
		who.receipt = rcBy
		o := rc.Orchestrator
		r.Orchestrator = &o
		if rcBy != rc.Orchestrator {
			fail("receipt signed by %s, but it names orchestrator %s", rcBy.Hex(), rc.Orchestrator.Hex())
		}
	}
	res, resBy, resErr := open[sign.TranscodeResult](v.d, pf.Answer.Result)
	if resErr != nil {
		fail("transcode result: %v", resErr)
	} else {
		who.result = resBy
		t := res.Transcoder
		r.Transcoder = &t
		if resBy != res.Transcoder {
			fail("transcode result signed by %s, but it names transcoder %s", resBy.Hex(), res.Transcoder.Hex())
		}
		if rcErr == nil && rc.Transcoder != res.Transcoder {
			fail("receipt names transcoder %s, the result transcoder %s", rc.Transcoder.Hex(), res.Transcoder.Hex())
		}
	}
	if segErr == nil {
		if rcErr == nil && rc.Segment != seg.Hash {
			fail("receipt is for segment %s, the signed segment is %s", rc.Segment.Hex(), seg.Hash.Hex())
		}
		if resErr == nil && res.Segment != seg.Hash {
			fail("transcode result is for segment %s, the signed segment is %s", res.Segment.Hex(), seg.Hash.Hex())
		}
	}

	if rcErr == nil && resErr == nil {
		if !slices.Equal(rc.Renditions, res.Renditions) {
			fail("the receipt and the transcode result hash different renditions")
		}
	}

	// The renditions: their bytes, in receipt order, and their pixels.
	n := len(e.Renditions)
	if rcErr == nil && len(rc.Renditions) != n {
		fail("receipt hashes %d renditions, the log lists %d", len(rc.Renditions), n)
	}
	if resErr == nil && len(res.Renditions) != n {
		fail("transcode result hashes %d renditions, the log lists %d", len(res.Renditions), n)
	}
	// Checked against one list when the receipt and result agree, each
	// on its own when they do not.
	type signedList struct {
		what, verb string
		hashes     []common.Hash
	}
	var lists []signedList
	switch {
	case rcErr == nil && resErr == nil && slices.Equal(rc.Renditions, res.Renditions):
		lists = []signedList{{"receipt and the transcode result", "say", rc.Renditions}}
	default:
		if rcErr == nil {
			lists = append(lists, signedList{"receipt", "says", rc.Renditions})
		}
		if resErr == nil {
			lists = append(lists, signedList{"transcode result", "says", res.Renditions})
		}
	}
	seen := map[string]bool{}
	var (
		pixels   uint64
		counted  = true
		measures []string
	)
	for i, rf := range e.Renditions {
		label := fmt.Sprintf("rendition %s (%s)", rf.Name, rf.File)
		if seen[rf.Name] {
			fail("%s: the log names this rendition twice", label)
		}
		seen[rf.Name] = true
		if rf.File == e.Source {
			fail("%s: the signed source segment is kept at this same path, so one file overwrote the other", label)
		}
		data, err := readAll(ctx, v.src, rf.File, maxSegmentFile)
		if err != nil {
			fail("%s: %v", label, fileErr(err))
			counted = false
			continue
		}
		h := RenditionHash(data)
		for _, l := range lists {
			compareHash(fail, label, l.what, l.verb, h, l.hashes, i, e.Renditions)
		}
		if rf.Name == transcode.SourceName {
			continue // a remux: not billed
		}
		p, err := MeasurePicture(data)
		if err != nil {
			fail("%s: counting pixels: %v", label, err)
			counted = false
			continue
		}
		pixels += p.Pixels
		measures = append(measures, fmt.Sprintf("%s %dx%d × %d frames", rf.Name, p.Width, p.Height, p.Frames))
	}
	if counted {
		r.Pixels = &pixels
		how := strings.Join(measures, " + ")
		if how == "" {
			how = "no billed rendition"
		}
		if rcErr == nil && rc.Pixels != pixels {
			fail("pixels: the receipt claims %d, the renditions hold %d (%s)", rc.Pixels, pixels, how)
		}
		if resErr == nil && res.Pixels != pixels {
			fail("pixels: the transcode result claims %d, the renditions hold %d (%s)", res.Pixels, pixels, how)
		}
	} else if rcErr == nil && resErr == nil && rc.Pixels != res.Pixels {
		fail("pixels: the receipt claims %d, the transcode result %d", rc.Pixels, res.Pixels)
	}
	if len(r.Reasons) > 0 {
		r.Status = StatusMismatch
	}
	return r, who
}

// compareHash checks rendition i's hash against a signed list, saying
// when the file is another entry of the list (renditions out of order).
func compareHash(fail func(string, ...any), label, what, verb string, h common.Hash, signed []common.Hash, i int, rends []RenditionFile) {
	if i < len(signed) && signed[i] == h {
		return
	}
	if j := slices.Index(signed, h); j >= 0 {
		other := "?"
		if j < len(rends) {
			other = rends[j].Name
		}
		fail("%s: its bytes are rendition #%d (%s) of the %s, not #%d: the renditions are out of order", label, j+1, other, what, i+1)
		return
	}
	if i >= len(signed) {
		fail("%s: keccak256 %s, and the %s hash only %d renditions", label, h.Hex(), what, len(signed))
		return
	}
	fail("%s: keccak256 %s, but the %s %s %s", label, h.Hex(), what, verb, signed[i].Hex())
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

// streamWide checks what spans segments: one stream name, matching the
// permit's, and each seq once.
func (v *verifier) streamWide(rep *Report) {
	first := map[uint64]int{}
	for i := range rep.Segments {
		s := &rep.Segments[i]
		if l, dup := first[s.Seq]; dup {
			s.Reasons = append(s.Reasons, fmt.Sprintf("seq %d is already on line %d", s.Seq, l))
			s.Status = StatusMismatch
		} else {
			first[s.Seq] = s.Line
		}
		st := v.signers[i].stream
		if s.Status == StatusUnsigned || v.signers[i].segment == (common.Address{}) {
			continue
		}
		if rep.Stream == "" {
			rep.Stream = st
		}
		if st != rep.Stream {
			s.Reasons = append(s.Reasons, fmt.Sprintf("segment record names stream %q, the log's earlier segments %q", st, rep.Stream))
			s.Status = StatusMismatch
		}
	}
	if p := rep.Permit; p != nil && rep.Stream == "" {
		rep.Stream = p.Stream
	}
	if p := rep.Permit; p != nil && p.Stream != rep.Stream {
		rep.Problems = append(rep.Problems, fmt.Sprintf("permit: it is for stream %q, the segments are of %q", p.Stream, rep.Stream))
	}
}

// tally counts the segments and the parties.
func (rep *Report) tally(v *verifier) {
	t := Totals{Segments: len(rep.Segments)}
	type key struct {
		role string
		addr common.Address
	}
	count := map[key]int{}
	var order []key
	see := func(role string, a common.Address) {
		if a == (common.Address{}) {
			return
		}
		k := key{role, a}
		if _, ok := count[k]; !ok {
			order = append(order, k)
		}
		count[k]++
	}
	if p := rep.Permit; p != nil {
		k := key{RolePublisher, p.Publisher}
		count[k], order = 0, append(order, k)
	}
	count[key{RoleBroadcaster, rep.Broadcaster}], order = 0, append(order, key{RoleBroadcaster, rep.Broadcaster})
	for i, s := range rep.Segments {
		switch s.Status {
		case StatusOK:
			t.OK++
			if s.Pixels != nil {
				t.Pixels += *s.Pixels
			}
		case StatusMismatch:
			t.Mismatched++
		case StatusUnsigned:
			t.Unsigned++
		}
		w := v.signers[i]
		if w.linked && rep.Permit != nil {
			see(RolePublisher, rep.Permit.Publisher)
		}
		see(RoleBroadcaster, w.segment)
		see(RoleOrchestrator, w.receipt)
		see(RoleTranscoder, w.result)
	}
	rank := map[string]int{RolePublisher: 0, RoleBroadcaster: 1, RoleOrchestrator: 2, RoleTranscoder: 3}
	slices.SortStableFunc(order, func(a, b key) int { return rank[a.role] - rank[b.role] })
	rep.Parties = rep.Parties[:0]
	for _, k := range order {
		rep.Parties = append(rep.Parties, Party{Role: k.role, Address: k.addr, Segments: count[k]})
	}
	rep.Totals = t
}
