package verify

import (
	"slices"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
)

// Status is how a segment checks out.
type Status string

// Segment statuses.
const (
	StatusOK       Status = "ok"
	StatusMismatch Status = "mismatch"
	StatusUnsigned Status = "unsigned"
)

// Report is what Run found.
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
	// Permits lists every permit line, in order, when there are more than
	// one: a publisher that reconnected within the grace went on in the
	// same log under a new permit.
	Permits []*PermitReport `json:"permits,omitempty"`
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

// tally counts the segments by status, and the parties.
func (rep *Report) tally(signers []signers) {
	t := Totals{Segments: len(rep.Segments)}
	for _, s := range rep.Segments {
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
	}
	rep.Totals = t
	rep.Parties = rep.parties(signers)
}

// partyKey is an address in a role.
type partyKey struct {
	role string
	addr common.Address
}

// parties are the log's publisher and broadcaster, then everyone who
// signed a segment's record, by role, with the segments each vouched for.
func (rep *Report) parties(signers []signers) []Party {
	count := map[partyKey]int{}
	var order []partyKey
	see := func(role string, a common.Address, n int) {
		k := partyKey{role, a}
		if _, ok := count[k]; !ok {
			order = append(order, k)
		}
		count[k] += n
	}
	if p := rep.Permit; p != nil {
		see(RolePublisher, p.Publisher, 0)
	}
	see(RoleBroadcaster, rep.Broadcaster, 0)
	for _, w := range signers {
		for _, s := range w.parties(rep.Permit) {
			if s.addr != (common.Address{}) {
				see(s.role, s.addr, 1)
			}
		}
	}
	rank := map[string]int{RolePublisher: 0, RoleBroadcaster: 1, RoleOrchestrator: 2, RoleTranscoder: 3}
	slices.SortStableFunc(order, func(a, b partyKey) int { return rank[a.role] - rank[b.role] })
	out := make([]Party, 0, len(order))
	for _, k := range order {
		out = append(out, Party{Role: k.role, Address: k.addr, Segments: count[k]})
	}
	return out
}

// signers are the recovered signers of one segment's records.
type signers struct {
	segment, receipt, result common.Address
	stream                   string
	linked                   bool // the segment record links the log's permit
}

// parties are who vouched for the segment, in their roles.
func (w signers) parties(permit *PermitReport) []partyKey {
	var out []partyKey
	if w.linked && permit != nil {
		out = append(out, partyKey{RolePublisher, permit.Publisher})
	}
	return append(out, partyKey{RoleBroadcaster, w.segment}, partyKey{RoleOrchestrator, w.receipt},
		partyKey{RoleTranscoder, w.result})
}
