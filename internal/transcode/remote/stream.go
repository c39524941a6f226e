package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/castnet/castnet/internal/transcode"
)

// The streamed answer (castnet/3). An orchestrator's answer, or a
// transcoder's result, that streams each rendition as ffmpeg writes it, so
// the broadcaster can publish LL-HLS parts of every rendition while the
// segment is still being made. Its media type is StreamedType: a sequence
// of frames, each an ASCII header line and, for some, a body of the length
// the line gives. Length-prefixed rather than multipart, because a
// multipart part ends only when the next one begins: a chunk would wait
// for the next chunk.
//
//	chunk NAME OFFSET LENGTH\n<LENGTH bytes>   the rendition's next bytes.
//	    An OFFSET of 0 after bytes were sent starts the rendition over (the
//	    work moved to another transcoder); the bytes before are void.
//	end NAME WxH LENGTH SHA256\n             the rendition is the chunks
//	    since its last start, LENGTH bytes hashing to SHA256 (hex).
//	fail STATUS LENGTH\n<LENGTH bytes>        the work failed after the
//	    answer began, with the status a castnet/2 answer would have had,
//	    and a plain-text reason.
//
// The signed receipt, known only at the end, travels as an HTTP trailer.
const (
	StreamedType = "application/vnd.castnet.renditions"
	// HeaderStreamed, on a request, asks for a streamed answer
	// (StreamedRenditions).
	HeaderStreamed     = "Castnet-Streamed"
	StreamedRenditions = "renditions"
)

// Bounds of the streamed format.
const (
	maxFrameLine  = 256
	maxChunkBytes = 4 << 20
)

// StreamWriter writes a streamed answer. Its methods are safe for
// concurrent use; the first write error ends it (the reader is gone).
type StreamWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
	err   error
}

// NewStreamWriter writes to w, calling flush (when set) after each frame
// so that it leaves at once.
func NewStreamWriter(w io.Writer, flush func()) *StreamWriter {
	return &StreamWriter{w: w, flush: flush}
}

// Chunk writes the bytes of rendition name at offset off.
func (s *StreamWriter) Chunk(name string, off int64, b []byte) error {
	return s.frame(fmt.Sprintf("chunk %s %d %d\n", name, off, len(b)), b)
}

// End writes each rendition's end frame.
func (s *StreamWriter) End(rends []transcode.Rendition) error {
	for _, r := range rends {
		line := fmt.Sprintf("end %s %s %d %s\n", r.Profile.Name, formatSize(r.Width, r.Height), len(r.Data), digest(r.Data))
		if err := s.frame(line, nil); err != nil {
			return err
		}
	}
	return nil
}

// Fail writes a failure frame.
func (s *StreamWriter) Fail(status int, reason string) error {
	reason = TruncateReason(reason)
	return s.frame(fmt.Sprintf("fail %d %d\n", status, len(reason)), []byte(reason))
}

func (s *StreamWriter) frame(line string, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	_, s.err = io.WriteString(s.w, line)
	if s.err == nil && len(body) > 0 {
		_, s.err = s.w.Write(body)
	}
	if s.err == nil && s.flush != nil {
		s.flush()
	}
	return s.err
}

// ErrStreamed is a streamed answer that breaks the format.
var ErrStreamed = fmt.Errorf("%w: streamed renditions", ErrBadAnswer)

// streamReader assembles a streamed answer.
type streamReader struct {
	r       *bufio.Reader
	want    map[string]transcode.Profile
	data    map[string]*bytes.Buffer
	out     []transcode.Rendition
	total   int64
	partial func(string, int64, []byte)
}

// ReadStreamed reads a streamed answer for the ladder want, handing each
// chunk to partial (when set) as it arrives, and returns the renditions,
// each the bytes its end frame's hash names. A failure frame is returned
// as a *StatusError with its status.
func ReadStreamed(body io.Reader, want []transcode.Profile, partial func(string, int64, []byte)) ([]transcode.Rendition, error) {
	sr := &streamReader{r: bufio.NewReaderSize(io.LimitReader(body, maxAnswerBytes+int64(len(want))*maxFrameLine), 64<<10),
		want: map[string]transcode.Profile{}, data: map[string]*bytes.Buffer{}, partial: partial}
	for _, p := range want {
		sr.want[p.Name] = p
	}
	for len(sr.want) > 0 {
		if err := sr.next(); err != nil {
			return nil, err
		}
	}
	return sr.out, nil
}

// next reads one frame.
func (sr *streamReader) next() error {
	line, err := sr.line()
	if err != nil {
		return err
	}
	f := strings.Split(line, " ")
	switch {
	case f[0] == "chunk" && len(f) == 4:
		return sr.chunk(f[1], f[2], f[3])
	case f[0] == "end" && len(f) == 5:
		return sr.end(f[1], f[2], f[3], f[4])
	case f[0] == "fail" && len(f) == 3:
		return sr.fail(f[1], f[2])
	}
	return fmt.Errorf("%w: frame %q", ErrStreamed, truncate(line, 64))
}

// line reads a frame's header line, bounded.
func (sr *streamReader) line() (string, error) {
	var b []byte
	for {
		frag, err := sr.r.ReadSlice('\n')
		b = append(b, frag...)
		switch {
		case len(b) > maxFrameLine:
			return "", fmt.Errorf("%w: frame line over %d bytes", ErrStreamed, maxFrameLine)
		case err == nil:
			return string(b[:len(b)-1]), nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return "", fmt.Errorf("%w: %d renditions never ended: %v", ErrStreamed, len(sr.want), err)
		}
	}
}

// body reads a frame's body of the length field n.
func (sr *streamReader) body(n string, max int) ([]byte, error) {
	size, err := strconv.Atoi(n)
	if err != nil || size < 0 || size > max || sr.total+int64(size) > maxAnswerBytes {
		return nil, fmt.Errorf("%w: frame length %q", ErrStreamed, n)
	}
	sr.total += int64(size)
	b := make([]byte, size)
	if _, err := io.ReadFull(sr.r, b); err != nil {
		return nil, fmt.Errorf("%w: frame cut short: %v", ErrStreamed, err)
	}
	return b, nil
}

// chunk appends a chunk to its rendition, or starts the rendition over.
func (sr *streamReader) chunk(name, offset, n string) error {
	if _, ok := sr.want[name]; !ok {
		return fmt.Errorf("%w: chunk of unrequested or ended rendition %q", ErrStreamed, truncate(name, 32))
	}
	buf := sr.buffer(name)
	off, err := strconv.ParseInt(offset, 10, 64)
	if err != nil || off < 0 || (off != 0 && off != int64(buf.Len())) {
		return fmt.Errorf("%w: %s: chunk at %q after %d bytes", ErrStreamed, name, truncate(offset, 20), buf.Len())
	}
	b, err := sr.body(n, maxChunkBytes)
	if err != nil {
		return err
	}
	if off == 0 {
		buf.Reset() // a restart: what came before is void
	}
	buf.Write(b)
	if sr.partial != nil && len(b) > 0 {
		sr.partial(name, off, b)
	}
	return nil
}

func (sr *streamReader) buffer(name string) *bytes.Buffer {
	b := sr.data[name]
	if b == nil {
		b = &bytes.Buffer{}
		sr.data[name] = b
	}
	return b
}

// end closes a rendition: its bytes must match the declared length and
// hash.
func (sr *streamReader) end(name, size, n, hash string) error {
	p, ok := sr.want[name]
	if !ok {
		return fmt.Errorf("%w: end of unrequested or ended rendition %q", ErrStreamed, truncate(name, 32))
	}
	w, h, err := parseSize(size)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStreamed, name, err)
	}
	data := sr.buffer(name).Bytes()
	if n != strconv.Itoa(len(data)) || digest(data) != hash {
		return fmt.Errorf("%w: %s: %d bytes do not match length %q and hash", ErrStreamed, name, len(data), truncate(n, 20))
	}
	delete(sr.want, name)
	sr.out = append(sr.out, transcode.Rendition{Profile: p, Width: w, Height: h, Data: data})
	return nil
}

// fail reads a failure frame as the status error it stands for.
func (sr *streamReader) fail(status, n string) error {
	code, err := strconv.Atoi(status)
	if err != nil || code < 400 || code > 599 {
		return fmt.Errorf("%w: failure status %q", ErrStreamed, truncate(status, 20))
	}
	reason, err := sr.body(n, MaxFailureReason)
	if err != nil {
		return err
	}
	return &StatusError{Code: code, Reason: strings.TrimSpace(string(reason))}
}

// AcceptsStreamed says whether a request asks for a streamed answer.
func AcceptsStreamed(r *http.Request) bool {
	return r.Header.Get(HeaderStreamed) == StreamedRenditions
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
