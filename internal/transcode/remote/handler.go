package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
)

// ErrBusy is returned when every transcoding slot is taken.
var ErrBusy = fmt.Errorf("no free transcoding slot: %w", httpx.ErrUnavailable)

// ErrTranscode wraps a transcoder's failure on the submitted media.
var ErrTranscode = fmt.Errorf("transcode failed: %w", httpx.ErrUnprocessable)

// ErrAttemptTimeout means a segment's renditions were not ready within the
// attempt deadline, though its input arrived whole (a segment that did not
// arrive in time is a 408 instead).
var ErrAttemptTimeout = fmt.Errorf("segment not transcoded within the attempt deadline: %w", httpx.ErrGatewayTimeout)

// Defaults for HandlerConfig's deadlines.
const (
	// DefaultInputIdle is the longest wait for the next byte of a segment.
	// A live segment streams as it is cut, a frame at a time (tens of
	// milliseconds apart), so 2 s without a byte means a stalled or
	// hostile sender, and its slot goes to someone else.
	DefaultInputIdle = 2 * time.Second
	// DefaultAttemptTimeout bounds one segment, upload and answer, for a
	// node that does not know its broadcasters' segment duration: enough
	// for segments up to about 15 s (keyframes 10 s apart, say).
	DefaultAttemptTimeout = 30 * time.Second
	// DefaultAnswerTimeout bounds writing the renditions to the sender.
	DefaultAnswerTimeout = 30 * time.Second
)

// AttemptTimeout is the per-attempt deadline for segments of nominal
// duration d: the upload streams for about d, longer when keyframes are
// sparse, and the answer follows it.
func AttemptTimeout(d time.Duration) time.Duration { return 3*d + 10*time.Second }

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	Transcoder transcode.Transcoder
	// Capacity is how many segments may be transcoded at once; beyond it a
	// request gets 503 with Retry-After at once, so the sender can go to
	// another node instead of queueing. Default 2.
	Capacity int
	// MaxSegmentBytes caps a request body (default 64 MiB).
	MaxSegmentBytes int64
	// InputIdle is the longest wait for the segment's next byte, and
	// AttemptTimeout bounds the whole attempt from the request's start
	// (DefaultInputIdle, DefaultAttemptTimeout). An upload that passes
	// either is cut off with 408 and its slot freed, so slow senders
	// cannot hold every slot.
	InputIdle      time.Duration
	AttemptTimeout time.Duration
	// AnswerTimeout bounds writing the answer (DefaultAnswerTimeout); the
	// slot is freed before, so a sender that does not read holds none.
	AnswerTimeout time.Duration
	// Gate, when set, admits each segment (payment, the broadcaster's
	// signature) and signs the receipt (internal/trust).
	Gate   Gate
	Logger *slog.Logger
}

// Handler serves POST Path with a local Transcoder.
type Handler struct {
	cfg   HandlerConfig
	log   *slog.Logger
	slots chan struct{}
}

// NewHandler builds a Handler.
func NewHandler(cfg HandlerConfig) *Handler {
	if cfg.Capacity <= 0 {
		cfg.Capacity = 2
	}
	if cfg.MaxSegmentBytes <= 0 {
		cfg.MaxSegmentBytes = 64 << 20
	}
	if cfg.InputIdle <= 0 {
		cfg.InputIdle = DefaultInputIdle
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.AnswerTimeout <= 0 {
		cfg.AnswerTimeout = DefaultAnswerTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.Capacity)}
}

// Free reports the free transcoding slots.
func (h *Handler) Free() int { return cap(h.slots) - len(h.slots) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	httpx.Handle(h.log, h.serve).ServeHTTP(w, r)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return fmt.Errorf("send segments with POST: %w", httpx.ErrMethodNotAllowed)
	}
	job, err := parseJob(r)
	if err != nil {
		return err
	}
	ctx, body, stop := h.deadlines(w, r)
	defer stop()
	select {
	case h.slots <- struct{}{}:
	default:
		return httpx.WithRetryAfter(ErrBusy, time.Second)
	}
	var once sync.Once
	free := func() { once.Do(func() { <-h.slots }) }
	defer free()
	var stream *answerStream
	if AcceptsStreamed(r) {
		stream = newAnswerStream(w, time.Now().Add(h.cfg.AttemptTimeout+h.cfg.AnswerTimeout))
		job.Partial = stream.chunk
	}
	rends, hdr, err := h.work(ctx, w, r, job, body)
	if err != nil {
		err = cutOff(ctx, body, err)
		if stream != nil && stream.started() {
			h.log.Info("streamed answer failed", "stream", job.Stream, "seq", job.Seq, "err", err)
			stream.fail(err)
			return nil
		}
		return err
	}
	free() // transcoding is done: a sender slow to read the answer holds no slot
	if stream != nil {
		stream.finish(hdr, rends)
		return nil
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	// The deadline is lifted once the answer is out: the connection may
	// serve a long response next.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.AnswerTimeout))
	WriteRenditions(w, http.StatusOK, rends)
	_ = rc.Flush()
	_ = rc.SetWriteDeadline(time.Time{})
	return nil
}

// deadlines reads r's body under the input-idle deadline, and returns a
// context that ends at the attempt deadline, which also cuts off the body
// if it has not ended by then.
func (h *Handler) deadlines(w http.ResponseWriter, r *http.Request) (context.Context, *httpx.Body, func()) {
	body := httpx.LimitBody(w, r, h.cfg.InputIdle, 0)
	ctx, cancel := context.WithTimeoutCause(r.Context(), h.cfg.AttemptTimeout, ErrAttemptTimeout)
	why := fmt.Sprintf("the segment did not arrive within the %v attempt deadline", h.cfg.AttemptTimeout)
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), ErrAttemptTimeout) {
			body.Expire(why)
		}
	})
	return ctx, body, func() { stop(); cancel() }
}

// cutOff prefers a deadline as the reason a segment failed: the transcoder
// only saw its input break, or its context end.
func cutOff(ctx context.Context, body *httpx.Body, err error) error {
	if terr := body.Expired(); terr != nil {
		return terr
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrAttemptTimeout) {
		return cause
	}
	return err
}

// work admits the segment, transcodes it and, with a gate, checks the
// input's signed record and vouches for the answer (the headers).
func (h *Handler) work(ctx context.Context, w http.ResponseWriter, r *http.Request, job transcode.Job, body *httpx.Body) ([]transcode.Rendition, http.Header, error) {
	var adm Admission
	if h.cfg.Gate != nil {
		var err error
		if adm, err = h.cfg.Gate.Admit(r, job); err != nil {
			return nil, nil, err
		}
		defer adm.Close()
	}
	sum := NewSummer(http.MaxBytesReader(w, body, h.cfg.MaxSegmentBytes), h.cfg.Gate != nil)
	job.Input = sum
	start := time.Now()
	rends, err := h.transcode(ctx, r, job, adm, sum)
	if err != nil {
		if keepsItsStatus(err) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: segment %d: %v", ErrTranscode, job.Seq, err)
	}
	var hdr http.Header
	if adm != nil {
		if hdr, err = h.vouch(r, adm, sum, rends); err != nil {
			return nil, nil, err
		}
	}
	h.log.Info("segment transcoded", "stream", job.Stream, "seq", job.Seq, "renditions", len(rends), "took", time.Since(start).Round(time.Millisecond))
	return rends, hdr, nil
}

// transcode runs the job. A Transcoder that moves segments between nodes
// first has the gate check each node's renditions: a node whose answer
// the gate would not vouch for fails its own job, and the segment moves
// to another node instead of failing here (the node's lie is its fault,
// not this one's).
func (h *Handler) transcode(ctx context.Context, r *http.Request, job transcode.Job, adm Admission, sum *Summer) ([]transcode.Rendition, error) {
	m, moves := h.cfg.Transcoder.(Mover)
	c, checks := adm.(Checker)
	if !moves || !checks {
		return h.cfg.Transcoder.Transcode(ctx, job)
	}
	return m.TranscodeMoving(ctx, job, func(_ transcode.Job, rends []transcode.Rendition) error {
		// Input was read to its end: the trailer, if any, is in.
		err := c.Check(declared(r), sum.Sum(), rends)
		if err != nil && httpx.StatusOf(err) != http.StatusBadGateway {
			return nil // the input's fault, not the node's: vouch refuses it
		}
		return err
	})
}

// vouch checks the segment's signed record against the bytes received and
// has the gate sign for the renditions.
func (h *Handler) vouch(r *http.Request, adm Admission, sum *Summer, rends []transcode.Rendition) (http.Header, error) {
	// The transcoder read the body to its end, so the trailer (a streamed
	// segment's signed record) has arrived.
	if _, err := io.Copy(io.Discard, sum); err != nil {
		return nil, fmt.Errorf("%w: reading the segment's end: %w", ErrBadRequest, err)
	}
	if err := adm.Input(declared(r), sum.Sum()); err != nil {
		return nil, err
	}
	return adm.Answer(rends)
}

// declared is the segment's signed record: a header when the upload was
// whole, else the trailer, there once the body was read to its end.
func declared(r *http.Request) string {
	if v := r.Header.Get(HeaderSegment); v != "" {
		return v
	}
	return r.Trailer.Get(HeaderSegment)
}

// keepsItsStatus reports whether err already says what went wrong in HTTP
// terms — a body over the cap (413), a transcoder that rejected the media
// (422), or no capacity now (503, so the sender goes elsewhere) — rather
// than being blamed on the media.
func keepsItsStatus(err error) bool {
	switch httpx.StatusOf(err) {
	case http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusServiceUnavailable,
		http.StatusBadRequest, http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func parseJob(r *http.Request) (transcode.Job, error) {
	seq, err := strconv.ParseUint(r.Header.Get(HeaderSeq), 10, 64)
	if err != nil {
		return transcode.Job{}, fmt.Errorf("%w: %s must be a number", ErrBadRequest, HeaderSeq)
	}
	w, hgt, err := parseSize(r.Header.Get(HeaderSource))
	if err != nil {
		return transcode.Job{}, fmt.Errorf("%w: %s: %v", ErrBadRequest, HeaderSource, err)
	}
	ps, err := decodeProfiles(r.Header.Get(HeaderProfiles))
	if err != nil {
		return transcode.Job{}, err
	}
	stream := r.Header.Get(HeaderStream)
	if err := checkNameChars(HeaderStream, stream, MaxStreamLabel); err != nil {
		return transcode.Job{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return transcode.Job{Stream: stream, Seq: seq, Profiles: ps, SourceWidth: w, SourceHeight: hgt}, nil
}

// WriteRenditions answers with one multipart/mixed part per rendition, each
// with its name, size and SHA-256 so the receiver can check what it got.
// Write errors mean the receiver went away; there is nobody to tell.
func WriteRenditions(w http.ResponseWriter, status int, rends []transcode.Rendition) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(status)
	for _, r := range rends {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Type", "video/mp2t")
		hdr.Set(HeaderRendition, r.Profile.Name)
		hdr.Set(HeaderSize, formatSize(r.Width, r.Height))
		hdr.Set(HeaderHash, digest(r.Data))
		hdr.Set("Content-Length", strconv.Itoa(len(r.Data)))
		pw, err := mw.CreatePart(hdr)
		if err != nil {
			return
		}
		if _, err := pw.Write(r.Data); err != nil {
			return
		}
	}
	_ = mw.Close()
}
