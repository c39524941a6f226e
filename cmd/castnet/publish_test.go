package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/publish"
)

func TestPublishSizeFlags(t *testing.T) {
	const url = "http://127.0.0.1:1/whip/a" // never reached: each case fails first
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"help shows the flags and an example", []string{"-h"}, 0, "-sizes 1280x720,640x360 -switch-every 4s"},
		{"help lists the exit statuses", []string{"-h"}, 0, "4  connected, then the node ended the session"},
		{"a malformed size", []string{"-test-pattern", "-sizes", "1280x720,641x360", url}, 1, `-sizes: publish: invalid config: size "641x360"`},
		{"sizes and width together", []string{"-test-pattern", "-sizes", "1280x720,640x360", "-width", "640", url}, 1, "not both"},
		{"an interval without sizes", []string{"-test-pattern", "-switch-every", "2s", url}, 1, "-switch-every needs -sizes"},
		{"an interval between frames", []string{"-test-pattern", "-sizes", "1280x720,640x360", "-switch-every", "150ms", url}, 1, "multiple of 100ms at 30 fps"},
		{"a file cannot switch", []string{"-sizes", "1280x720,640x360", "in.mp4", url}, 1, "needs the test pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"publish"}, tc.args...), &stdout, &stderr)
			if out := stdout.String() + stderr.String(); code != tc.code || !strings.Contains(out, tc.out) {
				t.Errorf("exit %d, output %q; want %d and %q", code, out, tc.code, tc.out)
			}
		})
	}
}

func TestPublishExitStatusSaysHowItEnded(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		code int
		out  string
	}{
		{"published to the end", context.Background(), nil, 0, ""},
		{"refused", context.Background(), &publish.StatusError{Code: 403, Body: "permit expired"}, 1, "403 Forbidden: permit expired"},
		{"never connected", context.Background(), fmt.Errorf("%w within 10s", publish.ErrConnectTimeout), 1, "did not connect within 10s"},
		{"lost mid-stream", context.Background(), &publish.SessionError{Err: publish.ErrConnectionLost, After: 12 * time.Second, Why: "ICE failed"}, 3,
			"castnet: publish: connection lost after 12s: ICE failed\n"},
		{"ended by the node", context.Background(), &publish.SessionError{Err: publish.ErrEndedByServer, After: time.Second, Why: "404"}, 4,
			"the server ended the session after 1s: 404"},
		{"stopped before connecting", canceled, fmt.Errorf("publish: ffmpeg stopped: %w", context.Canceled), 1,
			"castnet: publish: stopped before publishing began\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := exitStatus(publishExit(tc.ctx, tc.err), &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.out) {
				t.Errorf("exit %d, output %q; want %d and %q", code, stderr.String(), tc.code, tc.out)
			}
		})
	}
}
