// Package benchtest holds what the benchmark parts' tests share: a castnet
// binary built once per test package, the leak check around it, and the
// rule that a missing ffmpeg skips a test except under CI.
package benchtest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// Main builds castnet into a temporary directory, stores its path in
// *exe, runs the package's tests, fails the run if a goroutine outlives
// them, and exits. A failed build fails the run at once.
func Main(m *testing.M, exe *string) {
	dir, err := os.MkdirTemp("", "castnet-bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*exe = filepath.Join(dir, "castnet")
	if out, err := exec.Command("go", "build", "-o", *exe, "github.com/castnet/castnet/cmd/castnet").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building castnet: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	// node.Start and node.Profile use http.DefaultClient; its idle
	// keep-alive connections are not a leak.
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// NeedFFmpeg skips the test when ffmpeg or ffprobe is missing, except
// under CI (CI set), where they must be installed.
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required under CI (make test installs it): %v", tool, err)
			}
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
}
