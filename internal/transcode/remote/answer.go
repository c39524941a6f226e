package remote

import (
	"net/http"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
)

// answerStream is a Handler's streamed answer (castnet/3) to a request
// that asked for one. It begins with the first chunk the transcoder
// writes: until then a failure is answered with its own status as in
// castnet/2; after, it ends the stream as a failure part.
type answerStream struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	deadline time.Time
	mu       sync.Mutex
	sw       *StreamWriter
}

func newAnswerStream(w http.ResponseWriter, deadline time.Time) *answerStream {
	return &answerStream{w: w, rc: http.NewResponseController(w), deadline: deadline}
}

// chunk is the job's Partial: the answer starts with the first chunk.
func (a *answerStream) chunk(name string, off int64, b []byte) {
	a.begin()
	_ = a.sw.Chunk(name, off, b)
}

// begin writes the answer's head once.
func (a *answerStream) begin() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sw != nil {
		return
	}
	// The segment is still arriving: HTTP/1.1 servers stop reading a
	// request body once the answer begins unless told it is full duplex.
	_ = a.rc.EnableFullDuplex()
	a.sw = NewStreamWriter(a.w, func() { _ = a.rc.Flush() })
	a.w.Header().Set("Content-Type", StreamedType)
	_ = a.rc.SetWriteDeadline(a.deadline) // a reader that stalls cannot hold the handler past the attempt
	a.w.WriteHeader(http.StatusOK)
}

// started says whether the answer has begun.
func (a *answerStream) started() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sw != nil
}

// finish ends the answer with the renditions' end parts, and trailers for
// the receipt headers hdr (they are known only now).
func (a *answerStream) finish(hdr http.Header, rends []transcode.Rendition) {
	a.begin()
	_ = a.sw.End(rends)
	for k, v := range hdr {
		a.w.Header()[http.TrailerPrefix+k] = v
	}
	_ = a.rc.SetWriteDeadline(time.Time{})
}

// fail ends a begun answer with err's status and public reason.
func (a *answerStream) fail(err error) {
	status, msg := httpx.Public(err)
	_ = a.sw.Fail(status, msg)
	_ = a.rc.SetWriteDeadline(time.Time{})
}
