package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/sign"
)

// TestKeysNewShowImport runs the keys commands end to end: the saved files
// open with the password and hold the printed address.
func TestKeysNewShowImport(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	run1 := func(stdin string, args ...string) (string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		if stdin != "" {
			f := filepath.Join(dir, "stdin")
			if err := os.WriteFile(f, []byte(stdin), 0o600); err != nil {
				t.Fatal(err)
			}
			args = append(args, f)
		}
		code := run(context.Background(), args, &out, &errb)
		return out.String() + errb.String(), code
	}
	out, code := run1("", "keys", "new", "-light", "-dir", keys, "-eth-password-file", pw)
	m := regexp.MustCompile(`address (0x[0-9a-fA-F]{40})\nfile +(\S+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("keys new: %d %q", code, out)
	}
	k, err := sign.Load(m[2], "hunter2")
	if err != nil || k.Address.Hex() != m[1] {
		t.Fatalf("the saved key: %v %s", err, k.Address.Hex())
	}
	// import: private key 1 has a well-known address.
	out, code = run1("0x0000000000000000000000000000000000000000000000000000000000000001\n",
		"keys", "import", "-light", "-dir", keys, "-eth-password-file", pw)
	if code != 0 || !strings.Contains(out, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf") {
		t.Fatalf("keys import: %d %q", code, out)
	}
	out, code = run1("", "keys", "show", keys)
	if code != 0 || !strings.Contains(out, m[1]) || !strings.Contains(out, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf") {
		t.Fatalf("keys show: %d %q", code, out)
	}
	// No password: a clear error, nothing saved.
	t.Setenv("CASTNET_ETH_PASSWORD", "")
	out, code = run1("", "keys", "new", "-light", "-dir", keys)
	if code != 1 || !strings.Contains(out, "CASTNET_ETH_PASSWORD") {
		t.Fatalf("keys new without a password: %d %q", code, out)
	}
	if out, code = run1("", "keys", "show", filepath.Join(dir, "pw")); code != 1 || !strings.Contains(out, "not a keystore key file") {
		t.Fatalf("keys show of a non-key: %d %q", code, out)
	}
}
