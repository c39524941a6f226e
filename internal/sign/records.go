package sign

import (
	"fmt"
	"math/big"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// The records castnet's roles sign. Their EIP-712 type names and field
// order are part of the protocol: changing either changes every digest.
// Each record's JSON form (for the custody log and the permit token) is
// its EIP-712 message: the same keys, uint256 as decimal strings, bytes32
// and addresses as 0x-hex; reading it back is strict (exact keys, no
// unknown or missing fields, no JSON numbers, canonical decimals, values
// within range, hashes exactly 32 bytes).

// MaxStreamLen bounds a permit's stream name in bytes, so a permit always
// fits a token.
const MaxStreamLen = 1024

// Permit lets Broadcaster accept a stream from the signing publisher:
// Publish(string stream,address broadcaster,uint256 expires,uint256
// maxPricePerPixel,uint256 nonce).
type Permit struct {
	Stream      string
	Broadcaster common.Address
	// Expires is unix seconds; the permit is refused from then on.
	Expires          *big.Int
	MaxPricePerPixel *big.Int
	Nonce            *big.Int
}

// PrimaryType is "Publish".
func (Permit) PrimaryType() string { return "Publish" }

// Types lists Publish's fields.
func (Permit) Types() []apitypes.Type {
	return []apitypes.Type{
		{Name: "stream", Type: "string"},
		{Name: "broadcaster", Type: "address"},
		{Name: "expires", Type: "uint256"},
		{Name: "maxPricePerPixel", Type: "uint256"},
		{Name: "nonce", Type: "uint256"},
	}
}

// Message is the permit as an EIP-712 message.
func (p Permit) Message() apitypes.TypedDataMessage {
	return apitypes.TypedDataMessage{
		"stream":           p.Stream,
		"broadcaster":      p.Broadcaster.Hex(),
		"expires":          uintValue(p.Expires),
		"maxPricePerPixel": uintValue(p.MaxPricePerPixel),
		"nonce":            uintValue(p.Nonce),
	}
}

// Check reports fields EIP-712 cannot encode: numbers missing, negative or
// wider than 256 bits, a stream name that is not UTF-8 or is longer than
// MaxStreamLen.
func (p Permit) Check() error {
	if err := checkStream(p.Stream, MaxStreamLen); err != nil {
		return fmt.Errorf("%w: permit: %v", ErrRecord, err)
	}
	for _, f := range []struct {
		name string
		v    *big.Int
	}{{"expires", p.Expires}, {"maxPricePerPixel", p.MaxPricePerPixel}, {"nonce", p.Nonce}} {
		if err := checkUint(f.name, f.v, 256); err != nil {
			return fmt.Errorf("%w: permit: %v", ErrRecord, err)
		}
	}
	return nil
}

// permitJSON is a permit's JSON form, keys in type order.
type permitJSON struct {
	Stream           string `json:"stream"`
	Broadcaster      string `json:"broadcaster"`
	Expires          string `json:"expires"`
	MaxPricePerPixel string `json:"maxPricePerPixel"`
	Nonce            string `json:"nonce"`
}

func (p Permit) toJSON() permitJSON {
	return permitJSON{
		Stream:           p.Stream,
		Broadcaster:      p.Broadcaster.Hex(),
		Expires:          decimal(p.Expires),
		MaxPricePerPixel: decimal(p.MaxPricePerPixel),
		Nonce:            decimal(p.Nonce),
	}
}

// MarshalJSON writes {"stream","broadcaster","expires","maxPricePerPixel",
// "nonce"} with numbers as decimal strings.
func (p Permit) MarshalJSON() ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	return marshalJSON(p.toJSON())
}

// UnmarshalJSON reads the JSON form strictly.
func (p *Permit) UnmarshalJSON(data []byte) error {
	v, err := permitFromJSON("permit", data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	*p = v
	return nil
}

// permitFromJSON reads a permit's JSON form; what names it in errors.
func permitFromJSON(what string, data []byte) (Permit, error) {
	o, err := decodeObject(what, data, "stream", "broadcaster", "expires", "maxPricePerPixel", "nonce")
	if err != nil {
		return Permit{}, err
	}
	var p Permit
	if p.Stream, err = o.str("stream"); err != nil {
		return Permit{}, err
	}
	if err := checkStream(p.Stream, MaxStreamLen); err != nil {
		return Permit{}, fmt.Errorf("%s: %v", what, err)
	}
	if p.Broadcaster, err = o.address("broadcaster"); err != nil {
		return Permit{}, err
	}
	if p.Expires, err = o.uint("expires", 256); err != nil {
		return Permit{}, err
	}
	if p.MaxPricePerPixel, err = o.uint("maxPricePerPixel", 256); err != nil {
		return Permit{}, err
	}
	if p.Nonce, err = o.uint("nonce", 256); err != nil {
		return Permit{}, err
	}
	return p, nil
}

// PermitDigest is the EIP-712 digest of p under d, the value a Segment's
// Permit field links to. It is the zero hash, which means "anonymous",
// when p or d fails Check: link only permits that CheckPermit accepted.
func PermitDigest(d Domain, p Permit) common.Hash {
	h, err := Digest(d, p)
	if err != nil {
		return common.Hash{}
	}
	return h
}

// Segment is a broadcaster's statement about one source segment it sends
// for transcoding: Segment(string stream,uint256 seq,uint256 durationMs,
// bytes32 hash,bytes32 profiles,bytes32 permit).
type Segment struct {
	Stream     string
	Seq        uint64
	DurationMs uint64
	// Hash is keccak256 of the segment's bytes.
	Hash common.Hash
	// Profiles is keccak256 of the requested profiles' canonical JSON.
	Profiles common.Hash
	// Permit is the EIP-712 digest of the publisher's permit (see
	// PermitDigest), zero for an anonymous stream.
	Permit common.Hash
}

// PrimaryType is "Segment".
func (Segment) PrimaryType() string { return "Segment" }

// Types lists Segment's fields.
func (Segment) Types() []apitypes.Type {
	return []apitypes.Type{
		{Name: "stream", Type: "string"},
		{Name: "seq", Type: "uint256"},
		{Name: "durationMs", Type: "uint256"},
		{Name: "hash", Type: "bytes32"},
		{Name: "profiles", Type: "bytes32"},
		{Name: "permit", Type: "bytes32"},
	}
}

// Message is the segment as an EIP-712 message.
func (s Segment) Message() apitypes.TypedDataMessage {
	return apitypes.TypedDataMessage{
		"stream":     s.Stream,
		"seq":        fmt.Sprint(s.Seq),
		"durationMs": fmt.Sprint(s.DurationMs),
		"hash":       s.Hash.Hex(),
		"profiles":   s.Profiles.Hex(),
		"permit":     s.Permit.Hex(),
	}
}

// Check reports a stream name that is not UTF-8 (JSON could not carry it).
func (s Segment) Check() error {
	if err := checkStream(s.Stream, -1); err != nil {
		return fmt.Errorf("%w: segment: %v", ErrRecord, err)
	}
	return nil
}

type segmentJSON struct {
	Stream     string `json:"stream"`
	Seq        string `json:"seq"`
	DurationMs string `json:"durationMs"`
	Hash       string `json:"hash"`
	Profiles   string `json:"profiles"`
	Permit     string `json:"permit"`
}

// MarshalJSON writes {"stream","seq","durationMs","hash","profiles",
// "permit"}.
func (s Segment) MarshalJSON() ([]byte, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	return marshalJSON(segmentJSON{
		Stream:     s.Stream,
		Seq:        fmt.Sprint(s.Seq),
		DurationMs: fmt.Sprint(s.DurationMs),
		Hash:       s.Hash.Hex(),
		Profiles:   s.Profiles.Hex(),
		Permit:     s.Permit.Hex(),
	})
}

// UnmarshalJSON reads the JSON form strictly; seq and durationMs must fit
// 64 bits.
func (s *Segment) UnmarshalJSON(data []byte) error {
	o, err := decodeObject("segment", data, "stream", "seq", "durationMs", "hash", "profiles", "permit")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	var v Segment
	err = firstErr(
		func() (err error) { v.Stream, err = o.str("stream"); return },
		func() (err error) { v.Seq, err = o.uint64("seq"); return },
		func() (err error) { v.DurationMs, err = o.uint64("durationMs"); return },
		func() (err error) { v.Hash, err = o.hash("hash"); return },
		func() (err error) { v.Profiles, err = o.hash("profiles"); return },
		func() (err error) { v.Permit, err = o.hash("permit"); return },
	)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	*s = v
	return nil
}

// TranscodeResult is a transcoder's statement of what it produced from a
// segment: TranscodeResult(bytes32 segment,bytes32[] renditions,uint256
// pixels,address transcoder).
type TranscodeResult struct {
	// Segment is keccak256 of the source segment's bytes.
	Segment common.Hash
	// Renditions name each rendition's bytes, in the order returned
	// (castnet uses SHA-256 here: trust.RenditionHash).
	Renditions []common.Hash
	Pixels     uint64
	Transcoder common.Address
}

// PrimaryType is "TranscodeResult".
func (TranscodeResult) PrimaryType() string { return "TranscodeResult" }

// Types lists TranscodeResult's fields.
func (TranscodeResult) Types() []apitypes.Type {
	return []apitypes.Type{
		{Name: "segment", Type: "bytes32"},
		{Name: "renditions", Type: "bytes32[]"},
		{Name: "pixels", Type: "uint256"},
		{Name: "transcoder", Type: "address"},
	}
}

// Message is the result as an EIP-712 message.
func (r TranscodeResult) Message() apitypes.TypedDataMessage {
	return apitypes.TypedDataMessage{
		"segment":    r.Segment.Hex(),
		"renditions": hashValues(r.Renditions),
		"pixels":     fmt.Sprint(r.Pixels),
		"transcoder": r.Transcoder.Hex(),
	}
}

type resultJSON struct {
	Segment    string   `json:"segment"`
	Renditions []string `json:"renditions"`
	Pixels     string   `json:"pixels"`
	Transcoder string   `json:"transcoder"`
}

// MarshalJSON writes {"segment","renditions","pixels","transcoder"}.
func (r TranscodeResult) MarshalJSON() ([]byte, error) {
	return marshalJSON(resultJSON{
		Segment:    r.Segment.Hex(),
		Renditions: hashList(r.Renditions),
		Pixels:     fmt.Sprint(r.Pixels),
		Transcoder: r.Transcoder.Hex(),
	})
}

// UnmarshalJSON reads the JSON form strictly; pixels must fit 64 bits.
func (r *TranscodeResult) UnmarshalJSON(data []byte) error {
	o, err := decodeObject("transcode result", data, "segment", "renditions", "pixels", "transcoder")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	var v TranscodeResult
	err = firstErr(
		func() (err error) { v.Segment, err = o.hash("segment"); return },
		func() (err error) { v.Renditions, err = o.hashes("renditions"); return },
		func() (err error) { v.Pixels, err = o.uint64("pixels"); return },
		func() (err error) { v.Transcoder, err = o.address("transcoder"); return },
	)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	*r = v
	return nil
}

// TranscodeReceipt is an orchestrator's statement that it delivered a
// transcoder's result for a segment: TranscodeReceipt(bytes32 segment,
// bytes32[] renditions,uint256 pixels,address orchestrator,address
// transcoder).
type TranscodeReceipt struct {
	// Segment is keccak256 of the source segment's bytes.
	Segment common.Hash
	// Renditions name each rendition's bytes, in the order returned
	// (castnet uses SHA-256 here: trust.RenditionHash).
	Renditions   []common.Hash
	Pixels       uint64
	Orchestrator common.Address
	Transcoder   common.Address
}

// PrimaryType is "TranscodeReceipt".
func (TranscodeReceipt) PrimaryType() string { return "TranscodeReceipt" }

// Types lists TranscodeReceipt's fields.
func (TranscodeReceipt) Types() []apitypes.Type {
	return []apitypes.Type{
		{Name: "segment", Type: "bytes32"},
		{Name: "renditions", Type: "bytes32[]"},
		{Name: "pixels", Type: "uint256"},
		{Name: "orchestrator", Type: "address"},
		{Name: "transcoder", Type: "address"},
	}
}

// Message is the receipt as an EIP-712 message.
func (r TranscodeReceipt) Message() apitypes.TypedDataMessage {
	return apitypes.TypedDataMessage{
		"segment":      r.Segment.Hex(),
		"renditions":   hashValues(r.Renditions),
		"pixels":       fmt.Sprint(r.Pixels),
		"orchestrator": r.Orchestrator.Hex(),
		"transcoder":   r.Transcoder.Hex(),
	}
}

type receiptJSON struct {
	Segment      string   `json:"segment"`
	Renditions   []string `json:"renditions"`
	Pixels       string   `json:"pixels"`
	Orchestrator string   `json:"orchestrator"`
	Transcoder   string   `json:"transcoder"`
}

// MarshalJSON writes {"segment","renditions","pixels","orchestrator",
// "transcoder"}.
func (r TranscodeReceipt) MarshalJSON() ([]byte, error) {
	return marshalJSON(receiptJSON{
		Segment:      r.Segment.Hex(),
		Renditions:   hashList(r.Renditions),
		Pixels:       fmt.Sprint(r.Pixels),
		Orchestrator: r.Orchestrator.Hex(),
		Transcoder:   r.Transcoder.Hex(),
	})
}

// UnmarshalJSON reads the JSON form strictly; pixels must fit 64 bits.
func (r *TranscodeReceipt) UnmarshalJSON(data []byte) error {
	o, err := decodeObject("transcode receipt", data, "segment", "renditions", "pixels", "orchestrator", "transcoder")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	var v TranscodeReceipt
	err = firstErr(
		func() (err error) { v.Segment, err = o.hash("segment"); return },
		func() (err error) { v.Renditions, err = o.hashes("renditions"); return },
		func() (err error) { v.Pixels, err = o.uint64("pixels"); return },
		func() (err error) { v.Orchestrator, err = o.address("orchestrator"); return },
		func() (err error) { v.Transcoder, err = o.address("transcoder"); return },
	)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	*r = v
	return nil
}

// uintValue is a uint256 message value: a decimal string, or nil (which
// go-ethereum refuses) when missing.
func uintValue(v *big.Int) any {
	if v == nil {
		return nil
	}
	return v.String()
}

// hashValues is a bytes32[] message value: 0x-hex strings, never nil
// (go-ethereum refuses a nil array).
func hashValues(hs []common.Hash) []any {
	out := make([]any, len(hs))
	for i, h := range hs {
		out[i] = h.Hex()
	}
	return out
}

// checkStream reports a stream name that is not valid UTF-8 or, when max
// is not negative, longer than max bytes.
func checkStream(s string, max int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("stream name is not valid UTF-8")
	}
	if max >= 0 && len(s) > max {
		return fmt.Errorf("stream name is %d bytes, at most %d", len(s), max)
	}
	return nil
}

// firstErr runs steps in order and returns the first error.
func firstErr(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
