package transcoder

import (
	"context"
	"io"
	"net/http"
	"sync"

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// resultStream posts a job's result as ffmpeg makes it (castnet/3, the
// job event's Streamed): the POST begins with the first chunk, streams
// every rendition's bytes, and ends with their end frames and the node's
// signed result as a trailer, or with a failure frame. A job that fails
// before its first chunk reports its failure the castnet/2 way.
type resultStream struct {
	n   *Node
	ctx context.Context
	id  string

	once    sync.Once
	pw      *io.PipeWriter
	sw      *remote.StreamWriter
	trailer http.Header
	done    chan error // the POST's outcome, once
}

func (n *Node) newResultStream(ctx context.Context, id string) *resultStream {
	return &resultStream{n: n, ctx: ctx, id: id, done: make(chan error, 1)}
}

// partial is the job's Partial, nil without a stream.
func (rs *resultStream) partial() func(string, int64, []byte) {
	if rs == nil {
		return nil
	}
	return func(name string, off int64, b []byte) {
		rs.begin()
		_ = rs.sw.Chunk(name, off, b) // an error means the POST ended; its outcome says why
	}
}

// begin starts the POST once.
func (rs *resultStream) begin() {
	rs.once.Do(func() {
		pr, pw := io.Pipe()
		rs.pw, rs.sw = pw, remote.NewStreamWriter(pw, nil)
		rs.trailer = http.Header{remote.HeaderResult: nil}
		go func() {
			err := rs.n.send(rs.ctx, remote.JobResultPath(rs.id), remote.StreamedType, pr, nil, rs.trailer)
			pr.CloseWithError(err) // a writer blocked on a POST that ended is released
			rs.done <- err
		}()
	})
}

func (rs *resultStream) started() bool {
	started := true
	rs.once.Do(func() { started = false; close(rs.done) })
	return started
}

// end finishes the POST with the renditions' end frames and their proof.
func (rs *resultStream) end(rends []transcode.Rendition) error {
	rs.begin()
	_ = rs.sw.End(rends)
	if len(rends) > 0 && rends[0].Proof != "" {
		rs.trailer.Set(remote.HeaderResult, rends[0].Proof)
	}
	return rs.close()
}

// fail finishes a begun POST with the job's failure: 422 for the input's
// fault, which another transcoder would share, else 502.
func (rs *resultStream) fail(class, reason string) error {
	status := http.StatusBadGateway
	if class == remote.FailureInput {
		status = http.StatusUnprocessableEntity
	}
	_ = rs.sw.Fail(status, reason)
	return rs.close()
}

// close ends the body and waits for the POST's answer.
func (rs *resultStream) close() error {
	_ = rs.pw.Close()
	return <-rs.done
}
