package ledger

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// maxAmountLen bounds the text ParseAmount reads: 2^256 − 1 wei has 78
// digits, and a fraction in ether at most 18 more.
const maxAmountLen = 128

// units are the suffixes ParseAmount knows and their power of ten in wei;
// longer suffixes first ("gwei" before "wei", "ether" before "eth").
var units = []struct {
	suffix string
	exp    int
}{{"gwei", 9}, {"wei", 0}, {"ether", 18}, {"eth", 18}}

// ParseAmount reads an amount of wei: a whole number ("123", "123wei") or
// a decimal number with a unit ("1eth", "0.5eth", "20gwei", "1.5 gwei"),
// converted exactly. It refuses signs, exponents, fractions of a wei and
// amounts over 2^256 − 1 wei.
func ParseAmount(s string) (*big.Int, error) {
	bad := func() error {
		return fmt.Errorf("amount: want wei or a number with eth/gwei, got %q", s)
	}
	if len(s) > maxAmountLen {
		return nil, fmt.Errorf("amount: %d characters is too long for an amount", len(s))
	}
	num := strings.ToLower(strings.TrimSpace(s))
	exp := 0
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, exp = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.exp
			break
		}
	}
	if strings.HasPrefix(num, "-") {
		return nil, fmt.Errorf("amount: must not be negative, got %q", s)
	}
	whole, frac, _ := strings.Cut(num, ".")
	if !digits(whole) || !digits(frac) || whole+frac == "" {
		return nil, bad()
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > exp {
		return nil, fmt.Errorf("amount: %q is not a whole number of wei", s)
	}
	v, ok := new(big.Int).SetString(whole+frac+strings.Repeat("0", exp-len(frac)), 10)
	if !ok {
		return nil, bad()
	}
	if v.Cmp(maxUint256) > 0 {
		return nil, fmt.Errorf("amount: %q is more than 2^256-1 wei", s)
	}
	return v, nil
}

// digits reports whether s is only ASCII digits (or empty).
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount writes wei exactly, in the largest unit of eth, gwei and
// wei that keeps it readable: "1.5eth", "20gwei", "123wei". ParseAmount
// reads it back to the same value.
func FormatAmount(v *big.Int) string {
	switch {
	case v == nil:
		return "<nil>"
	case v.Sign() < 0:
		return "-" + FormatAmount(new(big.Int).Neg(v))
	case v.Cmp(big.NewInt(1e15)) >= 0:
		return decimal(v, 18) + "eth"
	case v.Cmp(big.NewInt(1e6)) >= 0:
		return decimal(v, 9) + "gwei"
	}
	return v.String() + "wei"
}

// decimal writes v / 10^exp exactly, without trailing zeros.
func decimal(v *big.Int, exp int) string {
	s := v.String()
	if len(s) <= exp {
		s = strings.Repeat("0", exp-len(s)+1) + s
	}
	whole, frac := s[:len(s)-exp], strings.TrimRight(s[len(s)-exp:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// ParseAddress reads an Ethereum address: 0x and 40 hex digits. Mixed-case
// addresses must carry a valid EIP-55 checksum.
func ParseAddress(s string) (common.Address, error) {
	if !common.IsHexAddress(s) || !strings.HasPrefix(strings.ToLower(s), "0x") {
		return common.Address{}, fmt.Errorf("address: want 0x and 40 hex digits, got %q", s)
	}
	a := common.HexToAddress(s)
	hexPart := s[2:]
	if hexPart != strings.ToLower(hexPart) && hexPart != strings.ToUpper(hexPart) && a.Hex()[2:] != hexPart {
		return common.Address{}, fmt.Errorf("address: %q has a bad EIP-55 checksum (did you mean %s?)", s, a.Hex())
	}
	if a == (common.Address{}) {
		return common.Address{}, errors.New("address: the zero address is not an account")
	}
	return a, nil
}
