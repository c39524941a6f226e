package trust

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
)

// One set of checks serves every reader of a transcoded segment's records:
// the broadcaster's sealer as an orchestrator's answer arrives
// (sealer.Answer), `castnet verify` as it replays a custody log
// (internal/verify), and, before any receipt exists, the orchestrator's
// gate as a transcoder's result arrives (admission.vouch, with NoReceipt:
// it signs a receipt only for what the broadcaster will accept and pay).
// Each gathers the facts its own way, the sealer from the job and the bytes
// it received, the verifier from the log line and the files it reads
// again, the gate from the job and the broadcaster's record, and
// CheckSegment holds them to the same rules:
//
//   - the records open, and the segment record is the broadcaster's;
//   - the receipt is signed by the orchestrator it names, the result by
//     the transcoder both name;
//   - both are for the signed source bytes;
//   - both hash the renditions received, in order;
//   - both claim the pixels the renditions hold;
//   - those pixels are what the job asked for (sizes, timestamps, frames
//     and the ladder's total: see billable).
//
// What only one side can know stays with it, and says why there: the
// sealer alone knows which orchestrator it paid and which records it signed
// (sealer.Answer); the verifier alone reads the log, so it checks a line
// against its record, the source bytes against their hash, and what spans
// segments.

// Opened is a sealed record opened: its fields, the address its signature
// recovers and, when it did not open, why (then Record is not to be
// trusted, and may be partly decoded).
type Opened[R any] struct {
	Record R
	Signer common.Address
	Err    error
}

// Open opens a sealed record of type R (sign.Segment, sign.Permit,
// sign.TranscodeReceipt, sign.TranscodeResult) signed under domain d.
func Open[R any, PR interface {
	*R
	sign.Record
	json.Unmarshaler
}](d sign.Domain, s Sealed) Opened[R] {
	r, who, err := open[R, PR](d, s)
	return Opened[R]{Record: r, Signer: who, Err: err}
}

// Claim is one transcoded segment as a checker holds it: the records that
// vouch for it, and what they vouch for.
type Claim struct {
	// Broadcaster is who must have signed Segment.
	Broadcaster common.Address
	Segment     Opened[sign.Segment]
	Receipt     Opened[sign.TranscodeReceipt]
	Result      Opened[sign.TranscodeResult]
	// Job is what the broadcaster asked of the transcode: its profiles
	// and its source's size. Nil when that is not known (castnet verify,
	// for a line that logs no profiles or a source it cannot measure):
	// then what the pixels bill for is not checked.
	Job *transcode.Job
	// Duration is the segment's, as billed; 0 when it is not known (a
	// record that signs none, offline: the sealer bills the nominal
	// duration instead), and then frames and totals are not capped.
	Duration time.Duration
	// Renditions are the renditions received, in the order the receipt
	// hashes them.
	Renditions []Received
	// Listed says where Renditions were listed, for failures: "the
	// answer", "the log".
	Listed string
	// NoReceipt says the claim is checked before any receipt is signed:
	// the orchestrator's gate holds a transcoder's result to these rules
	// before it signs a receipt over what the result names. Receipt and
	// the rules about it are then left out.
	NoReceipt bool
}

// maxSignedDuration bounds a duration a segment record signs: far longer
// than any segment, and short enough that the billing limits reckoned from
// it do not overflow.
const maxSignedDuration = 24 * time.Hour

// SignedDuration is the duration seg signs, as a Claim's Duration (0:
// none signed).
func SignedDuration(seg sign.Segment) time.Duration {
	return time.Duration(min(seg.DurationMs, uint64(maxSignedDuration.Milliseconds()))) * time.Millisecond
}

// Received is one rendition as a checker holds it.
type Received struct {
	// Profile is the one it was made for (only its name, when the
	// checker does not know the profile).
	Profile transcode.Profile
	// File is where it was read, for failures ("" for bytes received).
	File string
	Data []byte
	// Unread says its bytes could not be read (castnet verify: a missing
	// file): it is neither hashed nor counted.
	Unread bool
}

// label names r in failures.
func (r Received) label() string {
	if r.File == "" {
		return "rendition " + r.Profile.Name
	}
	return fmt.Sprintf("rendition %s (%s)", r.Profile.Name, r.File)
}

// Failure is one way a segment's records break a rule.
type Failure struct {
	// Rule names the rule in a few words, as the sealer's refusal does.
	Rule string
	// Reason says how it is broken, with the hashes, addresses and
	// counts, as castnet verify reports it.
	Reason string
}

func (f Failure) Error() string { return f.Rule + ": " + f.Reason }

// Checked is what CheckSegment found.
type Checked struct {
	// Pixels are the renditions' pixels counted from their bytes (as
	// Pixels counts them); nil when a rendition could not be read or
	// counted.
	Pixels *uint64
	// Failures are every rule broken, in the order checked; none when
	// the segment checks out.
	Failures []Failure
}

// The rules, as failures name them.
const (
	ruleRecord      = "a record does not open"
	ruleBroadcaster = "the segment record is not the broadcaster's"
	ruleParties     = "signers and named parties differ"
	ruleInput       = "it is for other input bytes"
	ruleRenditions  = "rendition hashes differ from the bytes received"
	ruleCounting    = "a rendition's pixels cannot be counted"
	ruleBilling     = "billing pixels"
)

// CheckSegment holds a claim to the rules above and returns every failure.
func CheckSegment(c Claim) Checked {
	k := &checker{c: c, rc: c.Receipt.Err == nil && !c.NoReceipt, res: c.Result.Err == nil, seg: c.Segment.Err == nil}
	k.records()
	k.parties()
	k.input()
	k.renditions()
	k.pixels()
	k.billing()
	return Checked{Pixels: k.counted, Failures: k.fails}
}

// checker is one CheckSegment: the claim, which of its records opened,
// the renditions' pictures as measured, and the failures so far.
type checker struct {
	c            Claim
	seg, rc, res bool
	pics         []*Picture // nil: unread, unmeasured or the source rendition
	counted      *uint64
	measures     []string
	fails        []Failure
}

func (k *checker) fail(rule, format string, args ...any) {
	k.fails = append(k.fails, Failure{Rule: rule, Reason: fmt.Sprintf(format, args...)})
}

// records: each record opens, and the broadcaster signed the segment.
func (k *checker) records() {
	c := k.c
	switch {
	case !k.seg:
		k.fail(ruleRecord, "segment record: %v", c.Segment.Err)
	case c.Segment.Signer != c.Broadcaster:
		k.fail(ruleBroadcaster, "segment record signed by %s, not the broadcaster %s", c.Segment.Signer.Hex(), c.Broadcaster.Hex())
	}
	if !k.rc && !c.NoReceipt {
		k.fail(ruleRecord, "receipt: %v", c.Receipt.Err)
	}
	if !k.res {
		k.fail(ruleRecord, "transcode result: %v", c.Result.Err)
	}
}

// parties: the receipt is signed by the orchestrator it names, the result
// by the transcoder, and both name the same transcoder.
func (k *checker) parties() {
	rc, res := k.c.Receipt, k.c.Result
	if k.rc && rc.Signer != rc.Record.Orchestrator {
		k.fail(ruleParties, "receipt signed by %s, but it names orchestrator %s", rc.Signer.Hex(), rc.Record.Orchestrator.Hex())
	}
	if k.res && res.Signer != res.Record.Transcoder {
		k.fail(ruleParties, "transcode result signed by %s, but it names transcoder %s", res.Signer.Hex(), res.Record.Transcoder.Hex())
	}
	if k.rc && k.res && rc.Record.Transcoder != res.Record.Transcoder {
		k.fail(ruleParties, "receipt names transcoder %s, the result transcoder %s", rc.Record.Transcoder.Hex(), res.Record.Transcoder.Hex())
	}
}

// input: the receipt and the result are for the bytes the segment record
// signs.
func (k *checker) input() {
	if !k.seg {
		return
	}
	h := k.c.Segment.Record.Hash
	if got := k.c.Receipt.Record.Segment; k.rc && got != h {
		k.fail(ruleInput, "receipt is for segment %s, the signed segment is %s", got.Hex(), h.Hex())
	}
	if got := k.c.Result.Record.Segment; k.res && got != h {
		k.fail(ruleInput, "transcode result is for segment %s, the signed segment is %s", got.Hex(), h.Hex())
	}
}

// signedList is a list of rendition hashes a record signs.
type signedList struct {
	what, verb string
	hashes     []common.Hash
}

// renditions: the receipt and the result hash the renditions received,
// as many as there are, each at its place.
func (k *checker) renditions() {
	rc, res := k.c.Receipt.Record.Renditions, k.c.Result.Record.Renditions
	agree := k.rc && k.res && slices.Equal(rc, res)
	if k.rc && k.res && !agree {
		k.fail(ruleRenditions, "the receipt and the transcode result hash different renditions")
	}
	n := len(k.c.Renditions)
	if k.rc && len(rc) != n {
		k.fail(ruleRenditions, "receipt hashes %d renditions, %s lists %d", len(rc), k.c.Listed, n)
	}
	if k.res && len(res) != n {
		k.fail(ruleRenditions, "transcode result hashes %d renditions, %s lists %d", len(res), k.c.Listed, n)
	}
	for i, r := range k.c.Renditions {
		if r.Unread {
			continue
		}
		h := RenditionHash(r.Data)
		for _, l := range k.lists(agree) {
			k.compareHash(l, h, i)
		}
	}
}

// lists are the signed lists to check the renditions against: one when
// the receipt and the result agree, each on its own when they do not.
func (k *checker) lists(agree bool) []signedList {
	if agree {
		return []signedList{{"receipt and the transcode result", "say", k.c.Receipt.Record.Renditions}}
	}
	var out []signedList
	if k.rc {
		out = append(out, signedList{"receipt", "says", k.c.Receipt.Record.Renditions})
	}
	if k.res {
		out = append(out, signedList{"transcode result", "says", k.c.Result.Record.Renditions})
	}
	return out
}

// compareHash checks rendition i's hash against a signed list, saying
// when the bytes are another entry of the list (renditions out of order).
func (k *checker) compareHash(l signedList, h common.Hash, i int) {
	label, signed := k.c.Renditions[i].label(), l.hashes
	if i < len(signed) && signed[i] == h {
		return
	}
	if j := slices.Index(signed, h); j >= 0 {
		other := "?"
		if j < len(k.c.Renditions) {
			other = k.c.Renditions[j].Profile.Name
		}
		k.fail(ruleRenditions, "%s: its bytes are rendition #%d (%s) of the %s, not #%d: the renditions are out of order", label, j+1, other, l.what, i+1)
		return
	}
	if i >= len(signed) {
		k.fail(ruleRenditions, "%s: SHA-256 %s, and the %s hash only %d renditions", label, h.Hex(), l.what, len(signed))
		return
	}
	k.fail(ruleRenditions, "%s: SHA-256 %s, but the %s %s %s", label, h.Hex(), l.what, l.verb, signed[i].Hex())
}
