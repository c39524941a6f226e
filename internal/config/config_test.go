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
		d.MaxStreams != 8 || len(d.Profiles) != 3 {
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
	d, err := ParseDev([]string{"-nat-ip", "203.0.113.7", "-nat-ip", "2001:db8::1",
		"-ice-server", "stun:s:3478", "-ice-server", "turn:t:3478,u,p"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.NATIPs) != 2 || len(d.ICEServers) != 2 || d.ICEServers[1].Username != "u" {
		t.Errorf("%+v", d)
	}
}
