package sign

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestKeyFileRoundTrip(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	saved, err := Save(k, dir, "pw", Light)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(saved.Path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v mode %v", err, st.Mode())
	}
	got, err := Load(saved.Path, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != k.Address || got.Private.D.Cmp(k.Private.D) != 0 {
		t.Fatalf("loaded %s, saved %s", got.Address, k.Address)
	}
	if _, err := Load(saved.Path, "wrong"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := Save(k, dir, "", Light); err == nil {
		t.Fatal("saved without a password")
	}
}

// TestKnownKeyHasKnownAddress: the address derivation matches the
// well-known test vector (private key 1 → 0x7E5F…BDF).
func TestKnownKeyHasKnownAddress(t *testing.T) {
	k, err := ParsePrivateKey("0x0000000000000000000000000000000000000000000000000000000000000001")
	if err != nil {
		t.Fatal(err)
	}
	if k.Address.Hex() != "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf" {
		t.Fatalf("address %s", k.Address.Hex())
	}
	if _, err := ParsePrivateKey("zz"); err == nil {
		t.Fatal("bad hex accepted")
	}
}

func TestFileAddressRefusesOtherFiles(t *testing.T) {
	for _, in := range []string{``, `{}`, `[]`, `{"address":"00","crypto":{},"version":3}`,
		`{"address":"7e5f4552091a69125d5dfcb7b8c2659029395bdf","version":3}`} {
		if _, err := FileAddress([]byte(in)); !errors.Is(err, ErrKeyFile) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func FuzzFileAddress(f *testing.F) {
	f.Add([]byte(`{"address":"7e5f4552091a69125d5dfcb7b8c2659029395bdf","crypto":{"cipher":"x"},"version":3}`))
	f.Add([]byte(`{"address":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := FileAddress(b)
		if err != nil {
			return
		}
		// An accepted file is JSON, and its address survives a canonical
		// re-encoding.
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		canon := fmt.Sprintf(`{"address":%q,"crypto":{},"version":3}`, strings.TrimPrefix(a.Hex(), "0x"))
		if again, err := FileAddress([]byte(canon)); err != nil || again != a {
			t.Fatalf("%s does not round-trip: %v %s", a.Hex(), err, again.Hex())
		}
	})
}
