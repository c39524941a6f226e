package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAPIDefaultsKeepARecentHundredAndNoAdmin(t *testing.T) {
	t.Setenv(AdminTokenEnv, "")
	d, err := ParseDev(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d.API.KeepEnded != 100 || d.API.EndedTTL != time.Hour || d.API.AdminToken != "" {
		t.Errorf("API %+v, want 100 ended kept for 1h and no admin token", d.API)
	}
}

// TestAdminTokenComesFromAFileOrTheEnvironment, never from argv, where
// every user of the machine reads it.
func TestAdminTokenComesFromAFileOrTheEnvironment(t *testing.T) {
	t.Setenv(AdminTokenEnv, "from-the-environment-0123")
	d, err := ParseDev(nil, io.Discard)
	if err != nil || d.API.AdminToken != "from-the-environment-0123" {
		t.Fatalf("from $%s: %q %v", AdminTokenEnv, d.API.AdminToken, err)
	}
	file := filepath.Join(t.TempDir(), "admin")
	if err := os.WriteFile(file, []byte("from-the-file-0123456\r\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err = ParseDev([]string{"-admin-token-file", file}, io.Discard)
	if err != nil || d.API.AdminToken != "from-the-file-0123456" {
		t.Fatalf("from -admin-token-file: %q %v, want its first line over the environment", d.API.AdminToken, err)
	}
	if _, err := ParseDev([]string{"-admin-token", "x"}, io.Discard); err == nil {
		t.Error("an -admin-token flag exists: the token would be in ps")
	}
}

func TestAPIRejects(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\nsecond-line-is-not-read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"", []string{"-keep-ended", "0"}, "-keep-ended"},
		{"", []string{"-ended-ttl", "10ms"}, "-ended-ttl"},
		{"", []string{"-admin-token-file", empty}, "first line is empty"},
		{"", []string{"-admin-token-file", filepath.Join(empty, "none")}, "-admin-token-file"},
		{"short", nil, "shorter than 16"},
	} {
		t.Setenv(AdminTokenEnv, tc.env)
		if _, err := ParseDev(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q with $%s=%q: %v, want an error mentioning %q", tc.args, AdminTokenEnv, tc.env, err, tc.want)
		}
	}
}
