package dispatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// maxResultBytes bounds a result body: ReadRenditions stops at 256 MiB, and
// the multipart framing adds a little.
const maxResultBytes = 257 << 20

// serveInput streams the job's segment from byte 0, flushing as it grows,
// and ends with the segment. If the segment fails or the dispatch ends
// first, the response is cut without its final chunk, so the transcoder
// sees a broken body rather than a short segment that looks whole.
func (p *Pool) serveInput(w http.ResponseWriter, r *http.Request) error {
	a := p.lookup(r.PathValue("job"))
	if a == nil {
		return ErrUnknownJob
	}
	a.pickUp()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.ctx, cancel)
	defer stop()
	rc := http.NewResponseController(w)
	// A Write blocked on a transcoder that stopped reading is released when
	// the dispatch ends: a deadline in the past fails it at once.
	unblock := context.AfterFunc(ctx, func() { _ = rc.SetWriteDeadline(time.Now()) })
	defer unblock()
	w.Header().Set("Content-Type", "video/mp2t")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	for off := 0; ; {
		b, err := a.buf.next(ctx, off)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			panic(http.ErrAbortHandler) // net/http closes the connection without logging
		}
		n, err := w.Write(b)
		off += n
		if err != nil {
			return nil // the transcoder went away; its session tells the rest
		}
		_ = rc.Flush()
	}
}

// serveResult takes a job's renditions, checked against the job's ladder
// (names, sizes and hashes) and then by the job's check (the gate's rules
// for what it vouches for). A result that fails the checks counts as a
// failure of that transcoder, and the job moves on.
func (p *Pool) serveResult(w http.ResponseWriter, r *http.Request) error {
	a := p.lookup(r.PathValue("job"))
	if a == nil {
		return ErrUnknownJob
	}
	// A transcoder that stalls mid-upload is cut off when the dispatch ends.
	rc := http.NewResponseController(w)
	unblock := context.AfterFunc(a.ctx, func() { _ = rc.SetReadDeadline(time.Now()) })
	defer unblock()
	// Renditions may take longer than the server's default body deadline
	// to arrive over a slow link: the dispatch bounds the total instead.
	body := http.MaxBytesReader(w, httpx.LimitBody(w, r, httpx.DefaultBodyIdle, 0), maxResultBytes)
	rends, err := readResult(a, r, body)
	switch {
	case errors.Is(err, errMoot):
		return ErrUnknownJob
	case err != nil:
		if !p.claim(a, failureOf(err)) {
			return ErrUnknownJob
		}
		if reported(err) {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return fmt.Errorf("%w: %v", ErrBadResult, err)
	case !p.claim(a, outcome{rends: rends}):
		return ErrUnknownJob
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// failureOf is the outcome of a result that did not arrive whole: the
// failure a streamed result ended with (422: the input's fault, as a
// castnet/2 transcoder reports FailureInput), or a bad result, the
// transcoder's fault.
func failureOf(err error) outcome {
	var se *remote.StatusError
	switch {
	case !errors.As(err, &se):
		return outcome{class: remote.FailureTranscoder, reason: "bad result: " + err.Error()}
	case se.Code == http.StatusUnprocessableEntity:
		return outcome{class: remote.FailureInput, reason: se.Reason}
	}
	return outcome{class: remote.FailureTranscoder, reason: se.Reason}
}

// reported says err is a failure the transcoder itself reported in its
// streamed result, not a broken result.
func reported(err error) bool {
	var se *remote.StatusError
	return errors.As(err, &se)
}

// errMoot means a result no longer counts: its dispatch ended, or its
// segment broke (the dispatch ends on that), while it waited for the
// segment's end.
var errMoot = errors.New("the result no longer counts")

// readResult reads a job's renditions, in ladder order with the
// transcoder's signed result on each (the orchestrator's gate checks it
// when it signs its receipt), and checks them.
func readResult(a *attempt, r *http.Request, body io.Reader) ([]transcode.Rendition, error) {
	rends, proof, err := readRenditions(a, r, body)
	if err == nil {
		err = checkSizes(a.job, rends)
	}
	if err != nil {
		return nil, err
	}
	for i := range rends {
		rends[i].Proof = proof
	}
	rends = inLadderOrder(a.job.Profiles, rends)
	return rends, a.vet(rends)
}

// readRenditions reads a whole (castnet/2) result, or a streamed one
// (castnet/3) whose chunks go on to the job's Partial as they arrive and
// whose signed result is a trailer, there once the body is read to its
// end.
func readRenditions(a *attempt, r *http.Request, body io.Reader) ([]transcode.Rendition, string, error) {
	if r.Header.Get("Content-Type") != remote.StreamedType {
		rends, err := remote.ReadRenditions(r.Header.Get("Content-Type"), body, a.job.Profiles)
		return rends, r.Header.Get(remote.HeaderResult), err
	}
	rends, err := remote.ReadStreamed(body, a.job.Profiles, func(name string, off int64, b []byte) {
		a.seg.forward(a, name, off, b)
	})
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(body, 1<<20))
	}
	return rends, r.Trailer.Get(remote.HeaderResult), err
}

// vet holds rends to the job's check once its segment has arrived whole:
// the gate checks them against what ends it, the broadcaster's signed
// record. A transcoder that answers early waits for it.
func (a *attempt) vet(rends []transcode.Rendition) error {
	if a.check == nil {
		return nil
	}
	select {
	case <-a.buf.done:
	case <-a.ctx.Done():
		return errMoot
	}
	if a.buf.failure() != nil {
		return errMoot
	}
	return a.check(a.job, rends)
}

// serveFailure takes a transcoder's report that a job failed, with its
// class (input or transcoder) and a plain-text reason.
func (p *Pool) serveFailure(w http.ResponseWriter, r *http.Request) error {
	a := p.lookup(r.PathValue("job"))
	if a == nil {
		return ErrUnknownJob
	}
	class, err := remote.ParseFailureClass(r.Header.Get(remote.HeaderFailure))
	if err != nil {
		return err
	}
	reason, err := httpx.ReadBody(w, r, remote.MaxFailureReason)
	if err != nil {
		return err
	}
	if len(reason) == 0 {
		reason = []byte("no reason given")
	}
	if !p.claim(a, outcome{class: class, reason: string(reason)}) {
		return ErrUnknownJob
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkSizes requires each rendition's size to be the one FitSize gives,
// which is what a correct transcoder reports; a wrong size would give
// players a wrong RESOLUTION.
func checkSizes(job transcode.Job, rends []transcode.Rendition) error {
	for _, r := range rends {
		w, h := transcode.FitSize(r.Profile, job.SourceWidth, job.SourceHeight)
		if r.Width != w || r.Height != h {
			return fmt.Errorf("rendition %q is %dx%d, want %dx%d", r.Profile.Name, r.Width, r.Height, w, h)
		}
	}
	return nil
}

// inLadderOrder sorts renditions into the order of the requested ladder,
// as a local transcoder returns them.
func inLadderOrder(ladder []transcode.Profile, rends []transcode.Rendition) []transcode.Rendition {
	index := make(map[string]int, len(ladder))
	for i, p := range ladder {
		index[p.Name] = i
	}
	slices.SortFunc(rends, func(a, b transcode.Rendition) int { return index[a.Profile.Name] - index[b.Profile.Name] })
	return rends
}
