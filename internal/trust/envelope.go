// Package trust is castnet's chain of custody: who vouched for what. A
// broadcaster admits publishers by their wallet-signed permits, signs each
// segment it sends, pays orchestrators with tickets and checks their
// signed receipts; an orchestrator checks payment and the broadcaster's
// signature and signs a receipt over its transcoder's signed result; every
// record lands in a per-stream custody log that `castnet verify`
// (internal/verify) replays, holding each segment to the same checks the
// broadcaster made online (CheckSegment).
//
// The records are EIP-712 typed data (internal/sign); payments are
// Livepeer-compatible tickets (internal/pm).
package trust

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/castnet/castnet/internal/sign"
)

// ErrRecord means a signed record is malformed or its signature is bad.
var ErrRecord = errors.New("bad signed record")

// maxEnvelope bounds an encoded record in a header.
const maxEnvelope = 16 << 10

// Sealed is a record with its signature, as records travel in headers and
// lie in the custody log.
type Sealed struct {
	Record    json.RawMessage `json:"record"`
	Signature hexutil.Bytes   `json:"signature"`
}

// record is what a signed record type provides.
type record interface {
	sign.Record
	json.Marshaler
}

// seal signs r.
func seal(k sign.Key, d sign.Domain, r record) (Sealed, error) {
	sig, err := sign.SignRecord(k, d, r)
	if err != nil {
		return Sealed{}, err
	}
	b, err := r.MarshalJSON()
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{Record: b, Signature: sig}, nil
}

// open decodes a sealed record into r and returns its signer.
func open[R any, PR interface {
	*R
	sign.Record
	json.Unmarshaler
}](d sign.Domain, s Sealed) (R, common.Address, error) {
	var r R
	if err := PR(&r).UnmarshalJSON(s.Record); err != nil {
		return r, common.Address{}, fmt.Errorf("%w: %w", ErrRecord, err)
	}
	who, err := sign.RecordSigner(d, PR(&r), s.Signature)
	if err != nil {
		return r, common.Address{}, fmt.Errorf("%w: %s: %w", ErrRecord, PR(&r).PrimaryType(), err)
	}
	return r, who, nil
}

// encodeHeader is v as base64url JSON, the form of castnet's signed
// headers.
func encodeHeader(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // records keep their bytes: no \u003c for <
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// decodeHeader reads base64url JSON (padded or not) into v, refusing
// unknown fields.
func decodeHeader(what, s string, v any) error {
	if s == "" {
		return fmt.Errorf("%w: no %s", ErrRecord, what)
	}
	if len(s) > maxEnvelope {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrRecord, what, len(s), maxEnvelope)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return fmt.Errorf("%w: %s is not base64url: %v", ErrRecord, what, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRecord, what, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s: data after the object", ErrRecord, what)
	}
	return nil
}

// Answer is what an orchestrator vouches for in its Castnet-Receipt
// header: its receipt, and the result signed by the transcoder that did
// the work (signed by the orchestrator itself when it transcodes).
type Answer struct {
	Receipt Sealed `json:"receipt"`
	Result  Sealed `json:"result"`
}

// Proof is what a broadcaster keeps for one transcoded segment: its own
// signed segment and the orchestrator's answer. It travels to the custody
// log as Rendition.Proof.
type Proof struct {
	Segment Sealed `json:"segment"`
	Answer  Answer `json:"answer"`
}
