package names

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidatorsMatchTheirPatterns: the hand-written checks say what the
// published patterns say, for every byte and at the length limits.
func TestValidatorsMatchTheirPatterns(t *testing.T) {
	stream, rendition := regexp.MustCompile(StreamPattern), regexp.MustCompile(RenditionPattern)
	var cases []string
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	cases = append(cases, "", strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("A", 64),
		strings.Repeat("a", 65), "../x", "a/b", "a.b")
	for _, s := range cases {
		if Stream(s) != stream.MatchString(s) {
			t.Errorf("Stream(%q) = %v, pattern says %v", s, Stream(s), !Stream(s))
		}
		if Rendition(s) != rendition.MatchString(s) {
			t.Errorf("Rendition(%q) = %v, pattern says %v", s, Rendition(s), !Rendition(s))
		}
	}
}

func FuzzNames(f *testing.F) {
	f.Add("cam-1")
	f.Add("../etc")
	stream, rendition := regexp.MustCompile(StreamPattern), regexp.MustCompile(RenditionPattern)
	f.Fuzz(func(t *testing.T, s string) {
		if Stream(s) != stream.MatchString(s) || Rendition(s) != rendition.MatchString(s) {
			t.Fatalf("%q: validators and patterns disagree", s)
		}
	})
}
