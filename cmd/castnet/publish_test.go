package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
