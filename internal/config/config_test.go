package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDevDefaults(t *testing.T) {
	d, err := ParseDev(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d.HTTPAddr != "127.0.0.1:8935" || d.DataDir != "./castnet-data" || d.Segment != 2*time.Second ||
		d.MaxStreams != 8 || len(d.Profiles) != 3 || d.WebRTCUDP != "local:8189" {
		t.Errorf("defaults: %+v", d)
	}
}

func TestParseDevRejects(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"name":"x"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-segment", "100ms"}, "-segment"},
		{[]string{"-nat-ip", "not-an-ip"}, "-nat-ip"},
		{[]string{"-ice-server", "http://x"}, "stun:"},
		{[]string{"-http", "nonsense"}, "-http"},
		{[]string{"-webrtc-udp", "8189"}, "-webrtc-udp"},
		// A public address for a port that answers this machine only.
		{[]string{"-nat-ip", "203.0.113.7"}, "use -webrtc-udp :8189"},
		{[]string{"-profiles", bad}, "-profiles"},
		{[]string{"-profiles", "/nonexistent.json"}, "-profiles"},
		{[]string{"-hls-window", "1"}, "-hls-window"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, tc := range tests {
		_, err := ParseDev(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDev(%q) = %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestParseDevRepeatableFlags(t *testing.T) {
	d, err := ParseDev([]string{"-webrtc-udp", ":8189", "-nat-ip", "203.0.113.7", "-nat-ip", "2001:db8::1",
		"-ice-server", "stun:s:3478", "-ice-server", "turn:t:3478,u,p"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.NATIPs) != 2 || len(d.ICEServers) != 2 || d.ICEServers[1].Username != "u" {
		t.Errorf("%+v", d)
	}
}

func TestParseBroadcasterNetworkFlags(t *testing.T) {
	d, err := ParseBroadcaster([]string{"-orch-webhook", "http://127.0.0.1:1/list", "-max-price", "340282366920938463463374607431768211456"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d.OrchWebhook == "" || d.MaxPrice == nil || d.MaxPrice.BitLen() != 129 {
		t.Errorf("%+v", d)
	}
	for _, args := range [][]string{
		nil,
		{"-orchestrators", "ftp://x"},
		{"-orchestrators", "http://x", "-max-price", "-1"},
		{"-orchestrators", "http://x", "-max-price", "1.5"},
		{"-orch-webhook", "not a url"},
	} {
		if _, err := ParseBroadcaster(args, io.Discard); err == nil {
			t.Errorf("ParseBroadcaster(%q) accepted", args)
		}
	}
}

func TestParseOrchestratorAndTranscoder(t *testing.T) {
	if _, err := ParseOrchestrator([]string{"-transcode", "remote"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-secret") {
		t.Errorf("remote without a secret: %v", err)
	}
	if _, err := ParseOrchestrator([]string{"-fault", "explode"}, io.Discard); err == nil {
		t.Error("unknown fault accepted")
	}
	if _, err := ParseOrchestrator([]string{"-transcode", "remote", "-secret", "s", "-fault", "hang"}, io.Discard); err == nil {
		t.Error("a fault in remote mode accepted")
	}
	o, err := ParseOrchestrator([]string{"-fault", "hang"}, io.Discard)
	if err != nil || o.Transcode != "local" || o.Fault != "hang" {
		t.Errorf("%+v %v", o, err)
	}
	tc, err := ParseTranscoder([]string{"-orchestrator", "http://127.0.0.1:9935", "-secret", "s", "-nvidia", "0,1", "-capacity", "3"}, io.Discard)
	if err != nil || len(tc.NvidiaGPUs) != 2 || tc.Capacity != 3 || tc.HTTPAddr != "127.0.0.1:10935" {
		t.Errorf("%+v %v", tc, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "-orchestrator"},
		{[]string{"-orchestrator", "http://x"}, "-secret"},
		{[]string{"-orchestrator", "http://x", "-secret", "s", "-nvidia", "a"}, "-nvidia"},
		{[]string{"-orchestrator", "http://x", "-secret", "s", "-capacity", "0"}, "-capacity"},
		{[]string{"-orchestrator", "http://x", "-secret", "s", "-name", "bad name"}, "-name"},
	} {
		if _, err := ParseTranscoder(tt.args, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTranscoder(%q) = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestIdentityAndTrustFlags(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.json")
	pw := filepath.Join(dir, "pw")
	pubs := filepath.Join(dir, "pubs")
	for f, data := range map[string]string{key: "{}", pw: "secret\nignored\n",
		pubs: "# team\n0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf\n\n0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF # second\n"} {
		if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, err := ParseDev([]string{"-eth-key", key, "-eth-password-file", pw, "-publishers", pubs, "-require-permit", "-price", "7"}, io.Discard)
	if err != nil || d.Identity.Password != "secret" || len(d.Publishers) != 2 || !d.RequirePermit ||
		d.Price.Int64() != 7 || d.Ledger != filepath.Join("castnet-data", "ledger.db") {
		t.Fatalf("%+v %v", d, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("0x7E5F\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-eth-key", filepath.Join(dir, "missing")}, "-eth-key"},
		{[]string{"-eth-password-file", pw}, "needs -eth-key"},
		{[]string{"-publishers", bad}, "line 1"},
		{[]string{"-price", "-1"}, "-price"},
		{[]string{"-chain-id", "-5"}, "-chain-id"},
	} {
		if _, err := ParseDev(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	t.Setenv(PasswordEnv, "")
	if _, err := ParseDev([]string{"-eth-key", key}, io.Discard); err == nil || !strings.Contains(err.Error(), PasswordEnv) {
		t.Errorf("key without a password: %v", err)
	}
	if _, err := ParseOrchestrator([]string{"-price", "3"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-price needs -eth-key") {
		t.Errorf("charging orchestrator without a key: %v", err)
	}
}

func TestSourceOnlyNeedsNoOrchestratorsAndHasNoLadder(t *testing.T) {
	d, err := ParseBroadcaster([]string{"-source-only"}, io.Discard)
	if err != nil {
		t.Fatalf("a source-only broadcaster needs no orchestrators: %v", err)
	}
	if !d.SourceOnly || len(d.Profiles) != 0 {
		t.Errorf("source-only %v profiles %v, want true and none", d.SourceOnly, d.Profiles)
	}
	if _, err := ParseDev([]string{"-source-only", "-profiles", "ladder.json"}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "-source-only") {
		t.Errorf("-profiles with -source-only: err %v, want a conflict named", err)
	}
}

func TestDebugAddrMustBeLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{"": true, "127.0.0.1:6060": true, "[::1]:0": true, "localhost:6060": true,
		":6060": false, "0.0.0.0:6060": false, "10.0.0.1:6060": false, "nonsense": false} {
		if err := CheckDebugAddr(addr); (err == nil) != ok {
			t.Errorf("-debug-addr %q: err %v, want ok=%v", addr, err, ok)
		}
	}
	if _, err := ParseDev([]string{"-debug-addr", "0.0.0.0:6060"}, io.Discard); err == nil {
		t.Error("dev accepted a public -debug-addr")
	}
	if _, err := ParseOrchestrator([]string{"-debug-addr", ":6060"}, io.Discard); err == nil {
		t.Error("orchestrator accepted a public -debug-addr")
	}
}

// TestWinnersFileSitsBesideTheLedger: the winning-ticket store defaults to
// winners.db in the ledger's directory, may be named, and may not be the
// ledger itself.
func TestWinnersFileSitsBesideTheLedger(t *testing.T) {
	d, err := ParseDev([]string{"-data", "/srv/castnet"}, io.Discard)
	if err != nil || d.Winners != filepath.Join("/srv/castnet", "winners.db") {
		t.Errorf("dev default: %q %v", d.Winners, err)
	}
	d, err = ParseDev([]string{"-ledger", "/var/lib/castnet/ledger.db", "-winners", "/var/lib/castnet/w.db"}, io.Discard)
	if err != nil || d.Winners != "/var/lib/castnet/w.db" {
		t.Errorf("dev -winners: %q %v", d.Winners, err)
	}
	if b, err := ParseBroadcaster([]string{"-orchestrators", "http://x"}, io.Discard); err != nil || b.Winners != "" {
		t.Errorf("a broadcaster has no orchestrator, so no winners file: %q %v", b.Winners, err)
	}
	o, err := ParseOrchestrator(nil, io.Discard)
	if err != nil || o.Winners != filepath.Join("castnet-data", "winners.db") {
		t.Errorf("orchestrator default: %q %v", o.Winners, err)
	}
	o, err = ParseOrchestrator([]string{"-ledger", "/var/lib/castnet/ledger.db"}, io.Discard)
	if err != nil || o.Winners != filepath.Join("/var/lib/castnet", "winners.db") {
		t.Errorf("orchestrator beside -ledger: %q %v", o.Winners, err)
	}
	for _, args := range [][]string{{"-winners", "castnet-data/ledger.db"}, {"-ledger", "x.db", "-winners", "./x.db"}} {
		if _, err := ParseOrchestrator(args, io.Discard); err == nil || !strings.Contains(err.Error(), "not the ledger") {
			t.Errorf("ParseOrchestrator(%q) = %v, want the ledger refused as -winners", args, err)
		}
		if _, err := ParseDev(args, io.Discard); err == nil || !strings.Contains(err.Error(), "not the ledger") {
			t.Errorf("ParseDev(%q) = %v, want the ledger refused as -winners", args, err)
		}
	}
}
