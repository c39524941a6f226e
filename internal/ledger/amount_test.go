package ledger

import (
	"math/big"
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	e18 := new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	good := map[string]*big.Int{
		"0":                       big.NewInt(0),
		"123":                     big.NewInt(123),
		"123wei":                  big.NewInt(123),
		"1eth":                    e18,
		"1ETH":                    e18,
		"1 ether":                 e18,
		"0.5eth":                  new(big.Int).Div(e18, big.NewInt(2)),
		".5eth":                   new(big.Int).Div(e18, big.NewInt(2)),
		"20gwei":                  big.NewInt(20_000_000_000),
		"1.5gwei":                 big.NewInt(1_500_000_000),
		"0.000000000000000001eth": big.NewInt(1),
		"1.000eth":                e18,
		"7.0":                     big.NewInt(7),
		"  42wei ":                big.NewInt(42),
		"0.0000000010gwei":        big.NewInt(1),
		"115792089237316195423570985008687907853269984665640564039457584007913129639935": maxUint256,
	}
	for in, want := range good {
		got, err := ParseAmount(in)
		if err != nil || got.Cmp(want) != 0 {
			t.Errorf("ParseAmount(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                         "want wei",
		"eth":                      "want wei",
		"1e-19eth":                 "want wei",
		"1e18":                     "want wei",
		"0.0000000000000000001eth": "not a whole number of wei",
		"1.5":                      "not a whole number of wei",
		"1.5wei":                   "not a whole number of wei",
		"0.1gwei1":                 "want wei",
		"-1":                       "negative",
		"-1eth":                    "negative",
		"+1":                       "want wei",
		"1,000":                    "want wei",
		"1_000":                    "want wei",
		"0x10":                     "want wei",
		"1.2.3eth":                 "want wei",
		"1 2":                      "want wei",
		"garbage":                  "want wei",
		"1btc":                     "want wei",
		".":                        "want wei",
		"١eth":                     "want wei",
		"115792089237316195423570985008687907853269984665640564039457584007913129639936": "more than 2^256-1",
		strings.Repeat("9", 200): "too long",
	}
	for in, want := range bad {
		got, err := ParseAmount(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "amount: ") {
			t.Errorf("ParseAmount(%q) = %v, %v; want an error containing %q", in, got, err, want)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0wei", "999999": "999999wei", "1000000": "0.001gwei", "20000000000": "20gwei",
		"1000000000000000": "0.001eth", "1500000000000000000": "1.5eth", "1000000000000000000": "1eth",
		"1234567890123456789": "1.234567890123456789eth",
	} {
		v, _ := new(big.Int).SetString(in, 10)
		if got := FormatAmount(v); got != want {
			t.Errorf("FormatAmount(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAddress(t *testing.T) {
	const checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	for _, s := range []string{checksummed, strings.ToLower(checksummed), "0x" + strings.ToUpper(checksummed[2:])} {
		if a, err := ParseAddress(s); err != nil || a.Hex() != checksummed {
			t.Errorf("ParseAddress(%q) = %v, %v", s, a, err)
		}
	}
	for s, want := range map[string]string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD": "checksum",
		"5aaeb6053f3e94c9b9a09f33669435e7ef1beaed":   "0x and 40 hex digits",
		"0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea":   "0x and 40 hex digits",
		"0xzzaeb6053f3e94c9b9a09f33669435e7ef1beaed": "0x and 40 hex digits",
		"0x0000000000000000000000000000000000000000": "zero address",
		"": "0x and 40 hex digits",
	} {
		if _, err := ParseAddress(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAddress(%q) = %v, want an error containing %q", s, err, want)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "1", "123wei", "1eth", "0.5eth", "1.5gwei", ".5 ETH", "1e-19eth", "-1", "0x1", "1.", "..", "9999999999999999999999999999999999999999999999999999999999999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseAmount(s)
		if err != nil {
			if v != nil {
				t.Fatalf("ParseAmount(%q) returned %v with error %v", s, v, err)
			}
			if !strings.HasPrefix(err.Error(), "amount: ") {
				t.Fatalf("ParseAmount(%q) error %q lacks the amount: prefix", s, err)
			}
			return
		}
		if v.Sign() < 0 || v.Cmp(maxUint256) > 0 {
			t.Fatalf("ParseAmount(%q) = %s, out of range", s, v)
		}
		for _, again := range []string{v.String(), v.String() + "wei", FormatAmount(v)} {
			w, err := ParseAmount(again)
			if err != nil || w.Cmp(v) != 0 {
				t.Fatalf("ParseAmount(%q) = %s, but ParseAmount(%q) = %v, %v", s, v, again, w, err)
			}
		}
	})
}
