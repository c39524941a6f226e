package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestLimitFlags(t *testing.T) {
	d, err := ParseDev(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d.Limits != (Limits{MaxConns: 4096, InputIdle: 2 * time.Second, MaxViewers: 1000, MaxStreamViewers: 500}) {
		t.Errorf("dev limits %+v", d.Limits)
	}
	o, err := ParseOrchestrator([]string{"-max-conns", "-1", "-input-idle", "500ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Limits != (Limits{MaxConns: -1, InputIdle: 500 * time.Millisecond, AttemptTimeout: 30 * time.Second}) {
		t.Errorf("orchestrator limits %+v", o.Limits)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-max-conns", "0"}, "-max-conns 0: want 1 or more"},
		{[]string{"-input-idle", "1ms"}, "-input-idle 1ms: want 100ms or more"},
		{[]string{"-max-viewers", "-1"}, "want 0 (no cap) or more"},
		{[]string{"-attempt-timeout", "1m"}, "flag provided but not defined"}, // dev derives it from -segment
	} {
		if _, err := ParseDev(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, err := ParseOrchestrator([]string{"-attempt-timeout", "10ms"}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "-attempt-timeout 10ms: want 1s or more") {
		t.Errorf("short -attempt-timeout: %v", err)
	}
}

func TestPartTarget(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		err  string
	}{
		{nil, 500 * time.Millisecond, ""},
		{[]string{"-segment", "1s"}, 250 * time.Millisecond, ""}, // the default fits short segments
		{[]string{"-hls-part", "0"}, 0, ""},
		{[]string{"-hls-part", "300ms"}, 300 * time.Millisecond, ""},
		{[]string{"-hls-part", "50ms"}, 0, "-hls-part 50ms"},
		{[]string{"-segment", "1s", "-hls-part", "800ms"}, 0, "half of -segment"},
	} {
		d, err := ParseDev(tc.args, io.Discard)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: %v, want %q", tc.args, err, tc.err)
		case tc.err == "" && (err != nil || d.PartTarget != tc.want):
			t.Errorf("%v: %v %v, want %v", tc.args, d.PartTarget, err, tc.want)
		}
	}
}
