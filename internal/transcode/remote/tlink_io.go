package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/castnet/castnet/internal/transcode"
)

// ParseSessionQuery reads the query of a session request: capacity
// (required, 1..MaxCapacity) and name (optional, see CheckTranscoderName),
// each at most once. Other parameters are ignored, so T can offer more
// later. Errors wrap ErrBadRequest (400).
func ParseSessionQuery(rawQuery string) (SessionParams, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return SessionParams{}, fmt.Errorf("%w: query: %v", ErrBadRequest, err)
	}
	if len(q["capacity"]) != 1 || len(q["name"]) > 1 {
		return SessionParams{}, fmt.Errorf("%w: give capacity once (and name at most once)", ErrBadRequest)
	}
	c, err := strconv.Atoi(q.Get("capacity"))
	if err != nil || c < 1 || c > MaxCapacity {
		return SessionParams{}, fmt.Errorf("%w: capacity %q: want 1 to %d", ErrBadRequest, q.Get("capacity"), MaxCapacity)
	}
	name := q.Get("name")
	if err := CheckTranscoderName(name); err != nil {
		return SessionParams{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return SessionParams{Capacity: c, Name: name}, nil
}

// EventReader reads session lines with a bounded buffer: a line longer than
// MaxEventLine is a protocol error, not a reason to grow memory.
type EventReader struct {
	br *bufio.Reader
}

// NewEventReader reads events from r, usually a session response body.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{br: bufio.NewReaderSize(r, MaxEventLine)}
}

// Next returns the next event. Blank lines are skipped. It returns io.EOF
// at a clean end of stream, io.ErrUnexpectedEOF for a cut line, an error
// wrapping ErrBadEvent for a bad or oversized line, and the reader's error
// otherwise.
func (r *EventReader) Next() (Event, error) {
	for {
		line, err := r.br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return Event{}, fmt.Errorf("%w: line over %d bytes", ErrBadEvent, MaxEventLine)
		case err == io.EOF && len(line) > 0:
			return Event{}, io.ErrUnexpectedEOF
		case err != nil:
			return Event{}, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return ParseEvent(line)
	}
}

// EncodeRenditions returns rends as the multipart/mixed body that
// WriteRenditions writes (and ReadRenditions checks), with its content type,
// for T to post as a job's result.
func EncodeRenditions(rends []transcode.Rendition) (contentType string, body []byte) {
	var w bufferedResponse
	WriteRenditions(&w, http.StatusOK, rends)
	return w.Header().Get("Content-Type"), w.buf.Bytes()
}

// bufferedResponse is an http.ResponseWriter that keeps what is written.
type bufferedResponse struct {
	header http.Header
	buf    bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}

func (b *bufferedResponse) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferedResponse) WriteHeader(int)             {}
