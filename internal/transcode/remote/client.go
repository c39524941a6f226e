package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/castnet/castnet/internal/transcode"
)

// maxAnswerBytes bounds what a node may send back for one segment.
const maxAnswerBytes = 256 << 20

// Client is a transcode.Transcoder that sends each segment to a node at
// URL (its base; Path is appended).
type Client struct {
	URL  string
	HTTP *http.Client // nil: http.DefaultClient
	// Whole makes the client wait for the complete segment and send it with
	// a Content-Length, instead of streaming it as it grows. It exists to
	// measure what streaming saves (BENCHMARKS.md); leave it off.
	Whole bool
	// Sealer, when set, signs and pays for each segment and checks the
	// node's signed receipt (internal/trust).
	Sealer Sealer
}

// StatusError is a node's refusal: its HTTP status and reason.
type StatusError struct {
	Code       int
	Reason     string
	RetryAfter string
	// Paid is whether the refused request carried a payment (the
	// Sealer's HeaderPayment): a 402 then means the node took it and
	// refused the work anyway.
	Paid bool
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("node answered %d: %s", e.Code, e.Reason)
}

// Check vets a node's renditions for job before the client accepts them;
// an error refuses them.
type Check func(job transcode.Job, rends []transcode.Rendition) error

// Transcode streams job.Input to the node as it grows (the body has no
// length, so net/http sends it chunked) and returns the renditions, each
// checked against the hash the node sent.
func (c *Client) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	return c.TranscodeChecked(ctx, job, nil)
}

// TranscodeChecked is Transcode with check run on the renditions before the
// Sealer sees the answer: Sealer.Answer settles (bills and debits), so
// output that check refuses is never paid for. A nil check checks nothing.
// Once Sealer.Headers has paid for the request, exactly one of Answer and
// Failed ends it.
func (c *Client) TranscodeChecked(ctx context.Context, job transcode.Job, check Check) ([]transcode.Rendition, error) {
	req, sum, err := c.request(ctx, job)
	if err != nil {
		return nil, err
	}
	if c.Sealer != nil {
		if err := c.seal(ctx, req, job, sum); err != nil {
			return nil, err
		}
	}
	rends, hdr, err := c.exchange(req, job, check)
	switch {
	case c.Sealer == nil:
		return rends, err
	case err != nil:
		c.Sealer.Failed(ctx, job, statusOf(err))
		return nil, err
	}
	proof, err := c.Sealer.Answer(ctx, job, sum.Sum(), hdr, rends)
	if err != nil {
		return nil, err
	}
	for i := range rends {
		rends[i].Proof = proof
	}
	return rends, nil
}

// request builds the POST of job's segment: streamed as it grows, with the
// signed record as a trailer, or whole.
func (c *Client) request(ctx context.Context, job transcode.Job) (*http.Request, *Summer, error) {
	profiles, err := encodeProfiles(job.Profiles)
	if err != nil {
		return nil, nil, err
	}
	sum := NewSummer(job.Input, c.Sealer != nil)
	var body io.Reader
	var trailer http.Header
	if c.Whole {
		b, err := io.ReadAll(sum)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", transcode.ErrInput, err)
		}
		body = bytes.NewReader(b)
	} else {
		// No known length: streamed chunked, with the signed segment
		// record as a trailer once the last byte is read.
		eb := &endBody{r: sum}
		if c.Sealer != nil {
			trailer = http.Header{HeaderSegment: nil}
			eb.atEOF = func() error {
				v, err := c.Sealer.Segment(ctx, job, sum.Sum())
				trailer.Set(HeaderSegment, v)
				return err
			}
		}
		body = eb
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.URL, "/")+Path, body)
	if err != nil {
		return nil, nil, err
	}
	req.Trailer = trailer
	req.Header.Set("Content-Type", "video/mp2t")
	req.Header.Set(HeaderSeq, strconv.FormatUint(job.Seq, 10))
	if job.Stream != "" {
		req.Header.Set(HeaderStream, job.Stream)
	}
	req.Header.Set(HeaderSource, formatSize(job.SourceWidth, job.SourceHeight))
	req.Header.Set(HeaderProfiles, profiles)
	if job.Partial != nil {
		req.Header.Set(HeaderStreamed, StreamedRenditions) // a castnet/2 node ignores it and answers whole
	}
	return req, sum, nil
}

// seal adds the Sealer's payment, and the signed record of a whole upload.
func (c *Client) seal(ctx context.Context, req *http.Request, job transcode.Job, sum *Summer) error {
	hdr, err := c.Sealer.Headers(ctx, job)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if !c.Whole {
		return nil
	}
	v, err := c.Sealer.Segment(ctx, job, sum.Sum())
	if err != nil {
		c.Sealer.Failed(ctx, job, 0)
		return err
	}
	req.Header.Set(HeaderSegment, v)
	return nil
}

// exchange sends req and reads the node's renditions, checked, and the
// answer's headers with its trailers (a streamed answer's receipt).
func (c *Client) exchange(req *http.Request, job transcode.Job, check Check) ([]transcode.Rendition, http.Header, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		reason, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return nil, nil, &StatusError{Code: resp.StatusCode, Reason: strings.TrimSpace(string(reason)),
			RetryAfter: resp.Header.Get("Retry-After"), Paid: req.Header.Get(HeaderPayment) != ""}
	}
	rends, err := readAnswer(resp, job)
	if err != nil {
		markPaid(err, req)
		return nil, nil, err
	}
	if check != nil {
		if err := check(job, rends); err != nil {
			return nil, nil, err
		}
	}
	return rends, withTrailers(resp), nil
}

// readAnswer reads a whole (castnet/2) or streamed (castnet/3) answer; a
// streamed one is read to its end, so that its trailers are in.
func readAnswer(resp *http.Response, job transcode.Job) ([]transcode.Rendition, error) {
	ct := resp.Header.Get("Content-Type")
	if ct != StreamedType {
		return ReadRenditions(ct, resp.Body, job.Profiles)
	}
	rends, err := ReadStreamed(resp.Body, job.Profiles, job.Partial)
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	}
	return rends, err
}

// markPaid notes on a streamed failure whether the request was paid for,
// as a refusal's StatusError does.
func markPaid(err error, req *http.Request) {
	var se *StatusError
	if errors.As(err, &se) {
		se.Paid = req.Header.Get(HeaderPayment) != ""
	}
}

// withTrailers is resp's header with its trailers added.
func withTrailers(resp *http.Response) http.Header {
	if len(resp.Trailer) == 0 {
		return resp.Header
	}
	h := resp.Header.Clone()
	for k, v := range resp.Trailer {
		h[k] = v
	}
	return h
}

// statusOf is the node's HTTP status in err, 0 when it sent none.
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// endBody is a request body that runs atEOF once its reader ends, before
// net/http reads the EOF (so trailers set there go out), and never closes
// the reader: the job owns it.
type endBody struct {
	r     io.Reader
	atEOF func() error
	done  bool
}

func (b *endBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		if b.atEOF != nil {
			if ferr := b.atEOF(); ferr != nil {
				return n, ferr
			}
		}
	}
	return n, err
}

// ReadRenditions parses a multipart/mixed rendition body (an orchestrator's
// answer, or a transcoder's result) and requires exactly the requested
// renditions, each matching its declared hash.
func ReadRenditions(contentType string, body io.Reader, want []transcode.Profile) ([]transcode.Rendition, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("%w: content type %q", ErrBadAnswer, contentType)
	}
	byName := map[string]transcode.Profile{}
	for _, p := range want {
		byName[p.Name] = p
	}
	mr := multipart.NewReader(io.LimitReader(body, maxAnswerBytes), params["boundary"])
	var out []transcode.Rendition
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadAnswer, err)
		}
		r, err := readPart(part, byName)
		if err != nil {
			return nil, err
		}
		delete(byName, r.Profile.Name)
		out = append(out, r)
	}
	if len(byName) > 0 {
		return nil, fmt.Errorf("%w: %d renditions missing", ErrBadAnswer, len(byName))
	}
	return out, nil
}

func readPart(part *multipart.Part, byName map[string]transcode.Profile) (transcode.Rendition, error) {
	name := part.Header.Get(HeaderRendition)
	p, ok := byName[name]
	if !ok {
		return transcode.Rendition{}, fmt.Errorf("%w: unrequested or repeated rendition %q", ErrBadAnswer, name)
	}
	w, h, err := parseSize(part.Header.Get(HeaderSize))
	if err != nil {
		return transcode.Rendition{}, fmt.Errorf("%w: %s: %v", ErrBadAnswer, name, err)
	}
	data, err := io.ReadAll(part)
	if err != nil {
		return transcode.Rendition{}, fmt.Errorf("%w: %s: %v", ErrBadAnswer, name, err)
	}
	if got := digest(data); got != part.Header.Get(HeaderHash) {
		return transcode.Rendition{}, fmt.Errorf("%w: %s: hash mismatch", ErrBadAnswer, name)
	}
	return transcode.Rendition{Profile: p, Width: w, Height: h, Data: data}, nil
}
