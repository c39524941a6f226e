// Package xcheck runs scripts/ethers/xcheck.mjs, the independent ethers.js
// implementation castnet's signatures and tickets are cross-checked
// against, for tests.
package xcheck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RepoRoot is the directory holding go.mod above the test's directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// Root returns the repository root when node and the root
// node_modules/ethers are there; otherwise it skips, or fails when CI is
// set (CI installs them with npm ci).
func Root(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	why := ""
	if _, err := exec.LookPath("node"); err != nil {
		why = "node is not on PATH"
	} else if _, err := os.Stat(filepath.Join(root, "node_modules", "ethers", "package.json")); err != nil {
		why = "node_modules/ethers is missing (run npm ci at the repository root)"
	}
	if why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("ethers cross-check needs node and ethers under CI: %s", why)
		}
		t.Skipf("skipping the ethers cross-check: %s", why)
	}
	// Read the script so that go test's cache is invalidated when it
	// changes.
	if _, err := os.ReadFile(filepath.Join(root, "scripts", "ethers", "xcheck.mjs")); err != nil {
		t.Fatal(err)
	}
	return root
}

// Run runs xcheck.mjs with args and stdin from root and returns its output
// and exit code; a crash (exit 2 or no exit) fails the test.
func Run(t testing.TB, root string, stdin []byte, args ...string) ([]byte, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join("scripts", "ethers", "xcheck.mjs")}, args...)...)
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("xcheck %v: %v", args, err)
	}
	if code != 0 && code != 1 {
		t.Fatalf("xcheck %v exited %d: %s", args, code, stderr.Bytes())
	}
	return stdout.Bytes(), code
}

// Verify runs `xcheck.mjs verify` on items (JSON) and returns one result
// per item, decoded from its JSON lines, and the exit code.
func Verify[I, R any](t testing.TB, root string, items []I) ([]R, int) {
	t.Helper()
	in, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	out, code := Run(t, root, in, "verify")
	var res []R
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r R
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("xcheck output %q: %v", sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != len(items) {
		t.Fatalf("xcheck verified %d of %d items: %s", len(res), len(items), out)
	}
	return res, code
}
