package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNeedNotBeOnTheCommandLine: every role's secret can come from
// a file or the environment, so ps does not show it.
func TestSecretsNeedNotBeOnTheCommandLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("from-file\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := ParseDev([]string{"-publish-token-file", file}, io.Discard)
	if err != nil || d.PublishToken != "from-file" {
		t.Errorf("dev -publish-token-file: %q, %v", d.PublishToken, err)
	}
	o, err := ParseOrchestrator([]string{"-transcode", "remote", "-secret-file", file}, io.Discard)
	if err != nil || o.Secret != "from-file" {
		t.Errorf("orchestrator -secret-file: %q, %v", o.Secret, err)
	}
	t.Setenv(SecretEnv, "from-env")
	tr, err := ParseTranscoder([]string{"-orchestrator", "http://127.0.0.1:9935"}, io.Discard)
	if err != nil || tr.Secret != "from-env" {
		t.Errorf("transcoder $%s: %q, %v", SecretEnv, tr.Secret, err)
	}
	t.Setenv(PublishTokenEnv, "tok")
	if d, err := ParseDev(nil, io.Discard); err != nil || d.PublishToken != "tok" {
		t.Errorf("dev $%s: %q, %v", PublishTokenEnv, d.PublishToken, err)
	}
	if d, _ := ParseDev([]string{"-publish-token", "flag"}, io.Discard); d.PublishToken != "flag" {
		t.Errorf("the flag should win over the environment: %q", d.PublishToken)
	}
}

func TestSecretFromTwoPlacesIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	_ = os.WriteFile(file, []byte("x\n"), 0o600)
	_, err := ParseOrchestrator([]string{"-secret", "a", "-secret-file", file}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "give one") {
		t.Errorf("-secret with -secret-file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := ParseDev([]string{"-publish-token-file", empty}, io.Discard); err == nil {
		t.Error("an empty token file was accepted")
	}
}
