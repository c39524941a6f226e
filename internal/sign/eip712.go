package sign

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// EIP-712 (typed structured data) signing for castnet's records. A record
// is hashed as keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(record)),
// the digest wallets show and sign with eth_signTypedData_v4, and signed
// with SignHash (v = 27/28).

// DomainName and DomainVersion name castnet's EIP-712 domain.
const (
	DomainName    = "castnet"
	DomainVersion = "1"
)

// ErrRecord means a record is malformed: a field missing, negative, too
// wide, or its JSON form not as specified.
var ErrRecord = errors.New("bad record")

// Domain is an EIP-712 domain. Only the fields that are set take part:
// Name and Version when not empty, ChainID when not nil, so the
// EIP712Domain type lists exactly those (in the order name, version,
// chainId, the order wallets and ethers use). castnet has no verifying
// contract or salt.
type Domain struct {
	Name, Version string
	// ChainID binds signatures to one chain; nil leaves them
	// chain-agnostic (wallets refuse to sign when a chainId differs from
	// the active chain).
	ChainID *big.Int
}

// DefaultDomain is castnet's domain: name "castnet", version "1", no
// chainId.
func DefaultDomain() Domain {
	return Domain{Name: DomainName, Version: DomainVersion}
}

// WithChainID returns d bound to chain id (nil removes the binding).
func (d Domain) WithChainID(id *big.Int) Domain {
	if id != nil {
		id = new(big.Int).Set(id)
	}
	d.ChainID = id
	return d
}

// Check reports a domain that cannot be hashed: no field at all, or a
// chainId that is negative or wider than 256 bits.
func (d Domain) Check() error {
	if d.Name == "" && d.Version == "" && d.ChainID == nil {
		return fmt.Errorf("%w: EIP-712 domain has no field", ErrRecord)
	}
	if d.ChainID != nil {
		if err := checkUint("domain chainId", d.ChainID, 256); err != nil {
			return fmt.Errorf("%w: %v", ErrRecord, err)
		}
	}
	return nil
}

// Types is the EIP712Domain type: the fields d sets.
func (d Domain) Types() []apitypes.Type {
	var ts []apitypes.Type
	if d.Name != "" {
		ts = append(ts, apitypes.Type{Name: "name", Type: "string"})
	}
	if d.Version != "" {
		ts = append(ts, apitypes.Type{Name: "version", Type: "string"})
	}
	if d.ChainID != nil {
		ts = append(ts, apitypes.Type{Name: "chainId", Type: "uint256"})
	}
	return ts
}

// apitypes is d in go-ethereum's form; its Map leaves out the same empty
// fields Types does.
func (d Domain) apitypes() apitypes.TypedDataDomain {
	td := apitypes.TypedDataDomain{Name: d.Name, Version: d.Version}
	if d.ChainID != nil {
		td.ChainId = (*math.HexOrDecimal256)(new(big.Int).Set(d.ChainID))
	}
	return td
}

// maxSafeJSONInt is 2^53 − 1, the largest integer a JSON number carries
// exactly in JavaScript.
const maxSafeJSONInt = 1<<53 - 1

// MarshalJSON writes the domain as wallets and ethers take it: {"name",
// "version", "chainId"} with only the fields set. chainId is a JSON number
// (what wallets compare with the active chain) when it fits 2^53 − 1, else
// a decimal string.
func (d Domain) MarshalJSON() ([]byte, error) {
	m := struct {
		Name    string `json:"name,omitempty"`
		Version string `json:"version,omitempty"`
		ChainID any    `json:"chainId,omitempty"`
	}{Name: d.Name, Version: d.Version}
	if d.ChainID != nil {
		if d.ChainID.IsInt64() && d.ChainID.Int64() >= 0 && d.ChainID.Int64() <= maxSafeJSONInt {
			m.ChainID = d.ChainID.Int64()
		} else {
			m.ChainID = d.ChainID.String()
		}
	}
	return marshalJSON(m)
}

// UnmarshalJSON reads what MarshalJSON writes, strictly: an object with
// only "name", "version" and "chainId", each optional but not empty,
// chainId a canonical non-negative integer as a JSON number or a decimal
// string. The domain must pass Check.
func (d *Domain) UnmarshalJSON(data []byte) error {
	v, err := domainFromJSON(data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if err := v.Check(); err != nil {
		return err
	}
	*d = v
	return nil
}

func domainFromJSON(data []byte) (Domain, error) {
	o, err := decodeOptional("domain", data, "name", "version", "chainId")
	if err != nil {
		return Domain{}, err
	}
	var d Domain
	for _, f := range []struct {
		key string
		to  *string
	}{{"name", &d.Name}, {"version", &d.Version}} {
		if !o.has(f.key) {
			continue
		}
		if *f.to, err = o.str(f.key); err != nil {
			return Domain{}, err
		}
		if *f.to == "" {
			return Domain{}, o.fieldErr(f.key, "is empty (leave it out instead)")
		}
	}
	if o.has("chainId") {
		raw := o.fields["chainId"]
		if len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
			d.ChainID, err = parseDecimal(string(raw), 256)
			if err != nil {
				return Domain{}, o.fieldErr("chainId", "%v", err)
			}
		} else if d.ChainID, err = o.uint("chainId", 256); err != nil {
			return Domain{}, err
		}
	}
	return d, nil
}

// Record is something a castnet role signs with EIP-712.
type Record interface {
	// PrimaryType is the EIP-712 type name, e.g. "Publish".
	PrimaryType() string
	// Types lists the primary type's fields in order.
	Types() []apitypes.Type
	// Message is the record as an EIP-712 message: uint256 as decimal
	// strings, addresses and bytes32 as 0x-hex, bytes32[] as arrays.
	Message() apitypes.TypedDataMessage
}

// checker is a record that can report fields it cannot encode.
type checker interface{ Check() error }

// TypedData is the full EIP-712 structure for r under d, EIP712Domain
// type included: what eth_signTypedData_v4 takes.
func TypedData(d Domain, r Record) apitypes.TypedData {
	return apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain":  d.Types(),
			r.PrimaryType(): r.Types(),
		},
		PrimaryType: r.PrimaryType(),
		Domain:      d.apitypes(),
		Message:     r.Message(),
	}
}

// Digest is the EIP-712 digest of r under d, the 32 bytes that are signed.
func Digest(d Domain, r Record) (common.Hash, error) {
	if err := d.Check(); err != nil {
		return common.Hash{}, err
	}
	if c, ok := r.(checker); ok {
		if err := c.Check(); err != nil {
			return common.Hash{}, err
		}
	}
	h, _, err := apitypes.TypedDataAndHash(TypedData(d, r))
	if err != nil {
		return common.Hash{}, fmt.Errorf("%w: EIP-712 hash of %s: %v", ErrRecord, r.PrimaryType(), err)
	}
	return common.BytesToHash(h), nil
}

// SignRecord signs r under d with k: 65 bytes r ‖ s ‖ v, v = 27/28, as a
// wallet's eth_signTypedData_v4 would (signatures are deterministic,
// RFC 6979, so the bytes equal a wallet's for the same key).
func SignRecord(k Key, d Domain, r Record) ([]byte, error) {
	h, err := Digest(d, r)
	if err != nil {
		return nil, err
	}
	sig, err := SignHash(k, h[:])
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", r.PrimaryType(), err)
	}
	return sig, nil
}

// RecordSigner recovers the address that signed r under d. The signature
// must be 65 bytes, v 27/28 or 0/1, low-s (see Recover). A signature over
// different data recovers a different address, so callers compare the
// result with whom they expect.
func RecordSigner(d Domain, r Record, sig []byte) (common.Address, error) {
	h, err := Digest(d, r)
	if err != nil {
		return common.Address{}, err
	}
	return Recover(h[:], sig)
}

// Keccak is keccak256(b), the hash records use for segment and rendition
// bytes.
func Keccak(b []byte) common.Hash {
	return crypto.Keccak256Hash(b)
}

// PublishRequest is what GET /api/eip712 serves: {"domain", "types" (with
// EIP712Domain and Publish), "primaryType": "Publish", "broadcaster"}. A
// page adds "message" (a Permit's JSON form) and passes the object to
// eth_signTypedData_v4 as is; for ethers' signTypedData, drop
// types.EIP712Domain. The value is a map[string]any, so a handler may add
// keys of its own (a suggested maxPricePerPixel, say) before encoding it.
func PublishRequest(d Domain, broadcaster common.Address) any {
	var p Permit
	return map[string]any{
		"domain": d,
		"types": map[string][]apitypes.Type{
			"EIP712Domain":  d.Types(),
			p.PrimaryType(): p.Types(),
		},
		"primaryType": p.PrimaryType(),
		"broadcaster": broadcaster.Hex(),
	}
}

// compile-time checks that the records are Records and JSON values.
var (
	_ Record           = Permit{}
	_ Record           = Segment{}
	_ Record           = TranscodeResult{}
	_ Record           = TranscodeReceipt{}
	_ json.Marshaler   = Permit{}
	_ json.Unmarshaler = (*Permit)(nil)
	_ json.Unmarshaler = (*Domain)(nil)
)
