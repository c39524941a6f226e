package transcodecost

import (
	"slices"
	"strings"
	"testing"
)

func TestEncodeArgsMatchThePublisherTestPattern(t *testing.T) {
	args := strings.Join(encodeArgs(7, "out.ts"), " ")
	for _, want := range []string{"testsrc2=size=1280x720:rate=30:duration=7", "-profile:v baseline", "-bf 0",
		"-g 30 -keyint_min 30 -sc_threshold 0", "-b:v 2500000", "-c:a libopus", "-ar 48000", "-f mpegts out.ts"} {
		if !strings.Contains(args, want) {
			t.Errorf("%q lacks %q", args, want)
		}
	}
}

func TestSplitArgsCopyAtTheSegmentDuration(t *testing.T) {
	args := splitArgs("in.ts", "d")
	i := slices.Index(args, "-segment_time")
	if i < 0 || args[i+1] != "2" || !slices.Contains(args, "copy") || args[len(args)-1] != "d/seg%03d.ts" {
		t.Errorf("split args %q", args)
	}
}

func TestParseSegmentListReadsTimes(t *testing.T) {
	got, err := parseSegmentList("seg000.ts,0.000000,2.006500\nseg001.ts,2.006500,4.006500\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Name != "seg001.ts" || !near(got[0].End-got[0].Start, 2.0065) || !near(got[1].End-got[1].Start, 2) {
		t.Errorf("got %+v", got)
	}
}

func TestParseSegmentListRefusesBadLines(t *testing.T) {
	for _, in := range []string{"seg.ts,0\n", "seg.ts,a,2\n", "seg.ts,2,1\n", ",0,2\n", "a,0,1,2\n"} {
		if _, err := parseSegmentList(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}
