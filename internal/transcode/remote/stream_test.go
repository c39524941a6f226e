package remote

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/transcode"
)

var streamLadder = []transcode.Profile{transcode.SourceProfile(), {Name: "360p", Width: 640, Height: 360, Bitrate: 700_000, FPS: 30}}

func rendition(p transcode.Profile, data string) transcode.Rendition {
	return transcode.Rendition{Profile: p, Width: 640, Height: 360, Data: []byte(data)}
}

type got struct {
	name string
	off  int64
	b    string
}

// writeStream writes a streamed answer with fn and returns its bytes.
func writeStream(fn func(s *StreamWriter)) []byte {
	var buf bytes.Buffer
	fn(NewStreamWriter(&buf, nil))
	return buf.Bytes()
}

func TestStreamedRenditionsRoundTrip(t *testing.T) {
	body := writeStream(func(s *StreamWriter) {
		s.Chunk("source", 0, []byte("sou"))
		s.Chunk("360p", 0, []byte("lo"))
		s.Chunk("source", 3, []byte("rce"))
		s.Chunk("360p", 0, []byte("low")) // the work moved: 360p starts over
		s.End([]transcode.Rendition{rendition(streamLadder[0], "source"), rendition(streamLadder[1], "low")})
	})
	var chunks []got
	rends, err := ReadStreamed(bytes.NewReader(body), streamLadder, func(n string, off int64, b []byte) {
		chunks = append(chunks, got{n, off, string(b)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rends) != 2 || string(rends[0].Data) != "source" || string(rends[1].Data) != "low" {
		t.Fatalf("renditions %+v", rends)
	}
	want := []got{{"source", 0, "sou"}, {"360p", 0, "lo"}, {"source", 3, "rce"}, {"360p", 0, "low"}}
	if len(chunks) != len(want) {
		t.Fatalf("partial got %v, want %v", chunks, want)
	}
	for i := range want {
		if chunks[i] != want[i] {
			t.Errorf("chunk %d: %v, want %v", i, chunks[i], want[i])
		}
	}
}

func TestStreamedRenditionsRefuseWhatBreaksTheFormat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(s *StreamWriter)
	}{
		{"a gap in the offsets", func(s *StreamWriter) {
			s.Chunk("source", 0, []byte("ab"))
			s.Chunk("source", 5, []byte("cd"))
		}},
		{"an unrequested rendition", func(s *StreamWriter) { s.Chunk("1080p", 0, []byte("x")) }},
		{"bytes that do not hash to the end", func(s *StreamWriter) {
			s.Chunk("source", 0, []byte("sourcX"))
			s.Chunk("360p", 0, []byte("low"))
			s.End([]transcode.Rendition{rendition(streamLadder[0], "source"), rendition(streamLadder[1], "low")})
		}},
		{"a rendition that never ends", func(s *StreamWriter) {
			s.Chunk("source", 0, []byte("source"))
			s.End([]transcode.Rendition{rendition(streamLadder[0], "source")})
		}},
		{"a chunk after the end", func(s *StreamWriter) {
			s.Chunk("source", 0, []byte("source"))
			s.End([]transcode.Rendition{rendition(streamLadder[0], "source")})
			s.Chunk("source", 6, []byte("more"))
		}},
		{"a length past the body", func(s *StreamWriter) { io.WriteString(s.w, "chunk source 0 99\nab") }},
		{"an unknown frame", func(s *StreamWriter) { io.WriteString(s.w, "hello\n") }},
		{"a line without end", func(s *StreamWriter) { io.WriteString(s.w, strings.Repeat("x", 300)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := writeStream(tc.write)
			if _, err := ReadStreamed(bytes.NewReader(body), streamLadder, nil); !errors.Is(err, ErrStreamed) {
				t.Fatalf("err = %v, want ErrStreamed", err)
			}
		})
	}
}

func TestStreamedFailureKeepsItsStatus(t *testing.T) {
	body := writeStream(func(s *StreamWriter) {
		s.Chunk("source", 0, []byte("sou"))
		s.Fail(http.StatusBadGateway, "transcoder lied")
	})
	_, err := ReadStreamed(bytes.NewReader(body), streamLadder, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadGateway || !strings.Contains(se.Reason, "lied") {
		t.Fatalf("err = %v, want a 502 StatusError", err)
	}
}

// FuzzReadStreamed: any body gives renditions that match their end parts
// or an error, never a panic; partial never sees bytes beyond the bound.
func FuzzReadStreamed(f *testing.F) {
	f.Add(writeStream(func(s *StreamWriter) {
		s.Chunk("source", 0, []byte("sou"))
		s.Chunk("source", 3, []byte("rce"))
		s.Chunk("360p", 0, []byte("low"))
		s.End([]transcode.Rendition{rendition(streamLadder[0], "source"), rendition(streamLadder[1], "low")})
	}))
	f.Add([]byte("fail 503 4\nbusy"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var seen int
		rends, err := ReadStreamed(bytes.NewReader(body), streamLadder,
			func(_ string, _ int64, b []byte) { seen += len(b) })
		if err == nil && len(rends) != len(streamLadder) {
			t.Fatalf("%d renditions without an error", len(rends))
		}
		if seen > maxAnswerBytes {
			t.Fatalf("partial saw %d bytes", seen)
		}
	})
}
