package sign

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
)

// This file holds the strict JSON reading and writing shared by the
// records' JSON forms and the permit token. encoding/json alone is too
// lenient for signed data: it matches keys case-insensitively, lets a key
// repeat (last wins), turns null into a zero value and replaces invalid
// UTF-8 silently. Here every key is exact, present once, and typed.

// maxUint256Digits is the number of decimal digits of 2^256 − 1.
const maxUint256Digits = 78

// jsonObject is one JSON object read strictly: exactly the expected keys,
// each once, case-sensitive.
type jsonObject struct {
	what   string
	fields map[string]json.RawMessage
}

// decodeObject reads data as a JSON object with exactly keys (no more, no
// fewer, none repeated) and nothing after it. what names the object in
// errors.
func decodeObject(what string, data []byte, keys ...string) (jsonObject, error) {
	o, err := decodeOptional(what, data, keys...)
	if err != nil {
		return o, err
	}
	for _, k := range keys {
		if _, ok := o.fields[k]; !ok {
			return o, fmt.Errorf("%s: missing field %q", what, k)
		}
	}
	return o, nil
}

// decodeOptional is decodeObject with every key optional.
func decodeOptional(what string, data []byte, keys ...string) (jsonObject, error) {
	o := jsonObject{what: what, fields: make(map[string]json.RawMessage, len(keys))}
	if !utf8.Valid(data) {
		return o, fmt.Errorf("%s: not valid UTF-8", what)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return o, fmt.Errorf("%s: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return o, fmt.Errorf("%s: want a JSON object", what)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return o, fmt.Errorf("%s: %v", what, err)
		}
		key, ok := tok.(string)
		if !ok {
			return o, fmt.Errorf("%s: want a key", what)
		}
		known := false
		for _, k := range keys {
			known = known || k == key
		}
		if !known {
			return o, fmt.Errorf("%s: unknown field %q (want %s)", what, key, strings.Join(keys, ", "))
		}
		if _, dup := o.fields[key]; dup {
			return o, fmt.Errorf("%s: field %q given twice", what, key)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return o, fmt.Errorf("%s: %s: %v", what, key, err)
		}
		o.fields[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return o, fmt.Errorf("%s: %v", what, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return o, fmt.Errorf("%s: data after the object", what)
	}
	return o, nil
}

// has reports whether the object has key.
func (o jsonObject) has(key string) bool {
	_, ok := o.fields[key]
	return ok
}

// fieldErr is an error about one field.
func (o jsonObject) fieldErr(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s %s", o.what, key, fmt.Sprintf(format, args...))
}

// str reads a JSON string. Unpaired surrogate escapes become U+FFFD, as
// encoding/json decodes them.
func (o jsonObject) str(key string) (string, error) {
	raw := o.fields[key]
	if len(raw) == 0 || raw[0] != '"' {
		return "", o.fieldErr(key, "must be a string, got %s", kindOf(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", o.fieldErr(key, "is not a valid string: %v", err)
	}
	return s, nil
}

// uint reads a uint of at most bits bits written as a canonical decimal
// string (digits only, no sign, no leading zeros).
func (o jsonObject) uint(key string, bits int) (*big.Int, error) {
	raw := o.fields[key]
	if len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return nil, o.fieldErr(key, "is a JSON number; uint%d values must be decimal strings (JSON numbers lose precision above 2^53)", bits)
	}
	s, err := o.str(key)
	if err != nil {
		return nil, err
	}
	v, err := parseDecimal(s, bits)
	if err != nil {
		return nil, o.fieldErr(key, "%v", err)
	}
	return v, nil
}

// uint64 reads a uint64 written as a decimal string.
func (o jsonObject) uint64(key string) (uint64, error) {
	v, err := o.uint(key, 64)
	if err != nil {
		return 0, err
	}
	return v.Uint64(), nil
}

// hash reads a bytes32 written as 0x and 64 hex digits.
func (o jsonObject) hash(key string) (common.Hash, error) {
	s, err := o.str(key)
	if err != nil {
		return common.Hash{}, err
	}
	h, err := parseHash(s)
	if err != nil {
		return common.Hash{}, o.fieldErr(key, "%v", err)
	}
	return h, nil
}

// hashes reads a bytes32[]: a JSON array (possibly empty) of hashes.
func (o jsonObject) hashes(key string) ([]common.Hash, error) {
	raw := o.fields[key]
	if len(raw) == 0 || raw[0] != '[' {
		return nil, o.fieldErr(key, "must be an array of 0x-hex hashes, got %s", kindOf(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, o.fieldErr(key, "is not a valid array: %v", err)
	}
	out := make([]common.Hash, 0, len(items))
	for i, item := range items {
		var s string
		if len(item) == 0 || item[0] != '"' || json.Unmarshal(item, &s) != nil {
			return nil, o.fieldErr(key, "[%d] must be a string, got %s", i, kindOf(item))
		}
		h, err := parseHash(s)
		if err != nil {
			return nil, o.fieldErr(key, "[%d] %v", i, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// address reads an address written as 0x and 40 hex digits; a mixed-case
// address must carry a valid EIP-55 checksum.
func (o jsonObject) address(key string) (common.Address, error) {
	s, err := o.str(key)
	if err != nil {
		return common.Address{}, err
	}
	a, err := parseAddress(s)
	if err != nil {
		return common.Address{}, o.fieldErr(key, "%v", err)
	}
	return a, nil
}

// object reads a nested object strictly.
func (o jsonObject) object(key string, keys ...string) (jsonObject, error) {
	return decodeObject(o.what+"."+key, o.fields[key], keys...)
}

// kindOf names the JSON kind of raw for error messages.
func kindOf(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// parseDecimal reads a canonical non-negative decimal integer of at most
// bits bits.
func parseDecimal(s string, bits int) (*big.Int, error) {
	if s == "" {
		return nil, errors.New("is empty, want a decimal integer")
	}
	if s[0] == '-' {
		return nil, fmt.Errorf("%q is negative", truncate(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, fmt.Errorf("%q is not a decimal integer (digits only, no sign, no 0x)", truncate(s))
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return nil, fmt.Errorf("%q has a leading zero", truncate(s))
	}
	if len(s) > maxUint256Digits {
		return nil, fmt.Errorf("has %d digits: wider than %d bits", len(s), bits)
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal integer", s)
	}
	if v.BitLen() > bits {
		return nil, fmt.Errorf("%s is wider than %d bits", s, bits)
	}
	return v, nil
}

// parseHexBytes reads 0x and exactly 2n hex digits.
func parseHexBytes(s string, n int) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") {
		return nil, fmt.Errorf("%q does not start with 0x", truncate(s))
	}
	if len(s) != 2+2*n {
		return nil, fmt.Errorf("is %d hex digits, want %d (%d bytes)", len(s)-2, 2*n, n)
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return nil, fmt.Errorf("%q is not hex", truncate(s))
	}
	return b, nil
}

// parseHash reads a 0x-hex 32-byte hash.
func parseHash(s string) (common.Hash, error) {
	b, err := parseHexBytes(s, common.HashLength)
	if err != nil {
		return common.Hash{}, err
	}
	return common.BytesToHash(b), nil
}

// parseAddress reads a 0x-hex address; mixed case must be a valid EIP-55
// checksum, as wallets and ethers require.
func parseAddress(s string) (common.Address, error) {
	b, err := parseHexBytes(s, common.AddressLength)
	if err != nil {
		return common.Address{}, err
	}
	a := common.BytesToAddress(b)
	digits := s[2:]
	if digits != strings.ToLower(digits) && digits != strings.ToUpper(digits) && a.Hex() != s {
		return common.Address{}, fmt.Errorf("%s has a bad EIP-55 checksum (want %s)", s, a.Hex())
	}
	return a, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// decimal writes a uint as a decimal string; nil is "" (refused when read
// back).
func decimal(v *big.Int) string {
	if v == nil {
		return ""
	}
	return v.String()
}

// hashList writes hashes as 0x-hex strings, never null.
func hashList(hs []common.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Hex()
	}
	return out
}

// marshalJSON encodes v without HTML escaping (so a stream name keeps its
// characters) and without a trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkUint reports a uint256 field that is missing, negative or too wide.
func checkUint(what string, v *big.Int, bits int) error {
	switch {
	case v == nil:
		return fmt.Errorf("%s is missing", what)
	case v.Sign() < 0:
		return fmt.Errorf("%s is negative", what)
	case v.BitLen() > bits:
		return fmt.Errorf("%s is wider than %d bits", what, bits)
	}
	return nil
}
