// Package verify is `castnet verify`: it replays a stream session's
// custody log (trust.Entry lines, as trust.Broadcaster.Record writes them),
// hashing every stored file again, recovering every signature and following
// the chain publisher → broadcaster → orchestrator → transcoder for each
// segment. A segment's records, receipt and renditions are held to
// trust.CheckSegment, the rules the broadcaster's sealer held the answer to
// when it came; what only a log shows is checked here: each line against
// its record (seq, profiles, permit), the source bytes against their hash,
// the files themselves, and what spans segments (one stream, each seq
// once).
package verify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/trust"
)

// maxSegmentFile bounds a source or rendition file read for checking.
const maxSegmentFile = 512 << 20

// Options tune RunWith.
type Options struct {
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

// Run checks a stream session's custody log and files: see RunWith.
func Run(ctx context.Context, src Source) (Report, error) {
	return RunWith(ctx, src, Options{})
}

// RunWith reads custody.jsonl from src and checks every segment: the
// source file's keccak256 against the broadcaster's signed Segment, the
// rendition files against the orchestrator's receipt and the transcoder's
// result, the pixel count against the renditions' H.264 streams and the
// job's profiles, and who signed each record. What does not check out is
// in the report; the error is for a log that cannot be read at all
// (missing, a garbage line).
func RunWith(ctx context.Context, src Source, opt Options) (Report, error) {
	rep := Report{Source: src.String(), Segments: []SegmentReport{}, Parties: []Party{}}
	lines, err := readCustody(ctx, src, &rep)
	if err != nil {
		return rep, err
	}
	v, err := newVerifier(src, lines[0], opt, &rep)
	if err != nil {
		return rep, err
	}
	segs := v.lines(lines[1:], &rep)
	if len(segs) == 0 {
		rep.Notes = append(rep.Notes, "the log has no segments yet")
	}
	rep.Segments = v.segments(ctx, segs, opt)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	v.streamWide(&rep)
	v.unrecorded(ctx, rep.Segments, &rep)
	rep.tally(v.signers)
	return rep, nil
}

// readCustody reads and parses src's custody.jsonl, noting in rep what
// the reading found (a torn final line).
func readCustody(ctx context.Context, src Source, rep *Report) ([]logLine, error) {
	rc, err := src.Open(ctx, trust.CustodyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s in %s: give a stream session's directory (castnet-data/hls/STREAM) or its custody URL (http://HOST/custody/STREAM/): %w",
			trust.CustodyFile, src, err)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	lines, notes, err := readLog(ctx, rc)
	if err != nil {
		return nil, err
	}
	rep.Notes = notes
	if len(lines) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrLog, trust.CustodyFile)
	}
	return lines, nil
}

// verifier holds what the node and permit lines say.
type verifier struct {
	src Source
	d   sign.Domain
	b   common.Address
	// permits are the log's permit lines, in order: each is in effect for
	// the segment lines after it (a publisher that reconnected continues
	// the log under its new permit).
	permits []logPermit
	// signers are each segment's recovered signers, for the parties.
	signers []signers
}

// newVerifier reads the node line: the domain and the broadcaster the log
// is kept under.
func newVerifier(src Source, node logLine, opt Options, rep *Report) (*verifier, error) {
	if node.e.Kind != trust.KindNode {
		return nil, fmt.Errorf("%w: line %d is a %s line: a log starts with its node line", ErrLog, node.n, node.e.Kind)
	}
	v := &verifier{src: src, d: *node.e.Domain, b: *node.e.Broadcaster}
	rep.Domain, rep.Broadcaster = v.d, v.b
	if v.b == (common.Address{}) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: the broadcaster is the zero address", node.n))
	}
	if opt.Broadcaster != (common.Address{}) && opt.Broadcaster != v.b {
		rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: the log is kept by broadcaster %s, not %s", node.n, v.b.Hex(), opt.Broadcaster.Hex()))
	}
	return v, nil
}

// lines reads the lines after the node line: permit lines, each starting
// a publisher's session (the first right after the node line, later ones
// where a reconnected publisher went on under a new permit), and the
// segment lines, which it returns.
func (v *verifier) lines(lines []logLine, rep *Report) []logLine {
	var segs []logLine
	for _, l := range lines {
		switch l.e.Kind {
		case trust.KindNode:
			rep.Problems = append(rep.Problems, fmt.Sprintf("line %d: a second node line", l.n))
		case trust.KindPermit:
			pr := v.permit(l, &rep.Problems)
			if rep.Permit == nil {
				rep.Permit = pr
			}
			rep.Permits = append(rep.Permits, pr)
		case trust.KindSegment:
			segs = append(segs, l)
		}
	}
	if len(rep.Permits) < 2 {
		rep.Permits = nil // the one is Permit
	}
	return segs
}

// logPermit is a permit line: where it is, the permit and its digest
// (what segment records link to).
type logPermit struct {
	line   int
	permit sign.Permit
	digest common.Hash
}

// permitAt is the permit in effect at line: the last permit line before
// it, nil when there is none.
func (v *verifier) permitAt(line int) *logPermit {
	var in *logPermit
	for i := range v.permits {
		if v.permits[i].line < line {
			in = &v.permits[i]
		}
	}
	return in
}

// permit checks the permit line: its signature recovers the publisher it
// names, it is for this broadcaster.
func (v *verifier) permit(l logLine, problems *[]string) *PermitReport {
	add := func(format string, args ...any) {
		*problems = append(*problems, fmt.Sprintf("line %d: permit: ", l.n)+fmt.Sprintf(format, args...))
	}
	o := trust.Open[sign.Permit](v.d, *l.e.Permit)
	p, who, err := o.Record, o.Signer, o.Err
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
	v.permits = append(v.permits, logPermit{line: l.n, permit: p, digest: pr.Digest})
	return pr
}

// segments checks each segment line, in parallel, in order.
func (v *verifier) segments(ctx context.Context, segs []logLine, opt Options) []SegmentReport {
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
	for _, p := range append([]*PermitReport{rep.Permit}, rep.Permits...) {
		if p != nil && p.Stream != rep.Stream {
			rep.Problems = append(rep.Problems, fmt.Sprintf("permit: it is for stream %q, the segments are of %q", p.Stream, rep.Stream))
			break
		}
	}
}
