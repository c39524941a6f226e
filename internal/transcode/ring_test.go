package transcode

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLineRing(t *testing.T) {
	long := strings.Repeat("x", stderrLineMax+100)
	var many []string
	for i := range 30 {
		many = append(many, "line "+strconv.Itoa(i))
	}
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{name: "nothing written is an empty tail", writes: nil, want: nil},
		{name: "lines split across writes are joined", writes: []string{"Err", "or: bad\nnext"}, want: []string{"Error: bad", "next"}},
		{name: "carriage returns end lines too (ffmpeg progress)", writes: []string{"a\rb\r\nc\n"}, want: []string{"a", "b", "c"}},
		{name: "blank lines are dropped", writes: []string{"\n\n  \nx\n"}, want: []string{"x"}},
		{name: "only the last lines are kept", writes: []string{strings.Join(many, "\n")}, want: many[30-stderrLines:]},
		{name: "long lines are cut", writes: []string{long + "\nend"}, want: []string{long[:stderrLineMax], "end"}},
		{name: "invalid UTF-8 is replaced", writes: []string{"a\xffb\n"}, want: []string{"a?b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []string
			r := newLineRing(stderrLines, func(l string) { seen = append(seen, l) })
			for _, w := range tt.writes {
				if n, err := r.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(w))
				}
			}
			if got := r.Tail(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Tail = %q, want %q", got, tt.want)
			}
			if len(seen) < len(tt.want) {
				t.Fatalf("onLine saw %d lines, fewer than the %d kept", len(seen), len(tt.want))
			}
		})
	}
}

// FuzzLineRing feeds arbitrary child output through the ring in two writes
// and checks its bounds: at most stderrLines lines, each short, non-empty,
// single-line and valid UTF-8.
func FuzzLineRing(f *testing.F) {
	f.Add([]byte("[mpegts @ 0x1] Error\nInvalid data found when processing input\n"), 7)
	f.Add([]byte("frame=  10 fps=0.0\rframe=  20\r"), 3)
	f.Add([]byte("\xff\xfe\n\n\r\r"), 0)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		cut = mod(cut, len(data)+1)
		r := newLineRing(stderrLines, nil)
		r.Write(data[:cut])
		r.Write(data[cut:])
		lines := r.Tail()
		if len(lines) > stderrLines {
			t.Fatalf("%d lines kept, more than %d", len(lines), stderrLines)
		}
		for _, l := range lines {
			if l == "" || len(l) > stderrLineMax || strings.ContainsAny(l, "\r\n") || !utf8.ValidString(l) {
				t.Fatalf("bad kept line %q", l)
			}
		}
	})
}
