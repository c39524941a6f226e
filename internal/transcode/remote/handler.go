package remote

import (
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
)

// ErrBusy is returned when every transcoding slot is taken.
var ErrBusy = fmt.Errorf("no free transcoding slot: %w", httpx.ErrUnavailable)

// ErrTranscode wraps a transcoder's failure on the submitted media.
var ErrTranscode = fmt.Errorf("transcode failed: %w", httpx.ErrUnprocessable)

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	Transcoder transcode.Transcoder
	// Capacity is how many segments may be transcoded at once; beyond it a
	// request gets 503 with Retry-After at once, so the sender can go to
	// another node instead of queueing. Default 2.
	Capacity int
	// MaxSegmentBytes caps a request body (default 64 MiB).
	MaxSegmentBytes int64
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
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		return httpx.WithRetryAfter(ErrBusy, time.Second)
	}
	var adm Admission
	if h.cfg.Gate != nil {
		if adm, err = h.cfg.Gate.Admit(r, job); err != nil {
			return err
		}
		defer adm.Close()
	}
	sum := NewSummer(http.MaxBytesReader(w, r.Body, h.cfg.MaxSegmentBytes), h.cfg.Gate != nil)
	job.Input = sum
	start := time.Now()
	rends, err := h.cfg.Transcoder.Transcode(r.Context(), job)
	if err != nil {
		if keepsItsStatus(err) {
			return err
		}
		return fmt.Errorf("%w: segment %d: %v", ErrTranscode, job.Seq, err)
	}
	if adm != nil {
		// The transcoder read the body to its end, so the trailer (a
		// streamed segment's signed record) has arrived.
		if _, err := io.Copy(io.Discard, sum); err != nil {
			return fmt.Errorf("%w: reading the segment's end: %v", ErrBadRequest, err)
		}
		decl := r.Header.Get(HeaderSegment)
		if decl == "" {
			decl = r.Trailer.Get(HeaderSegment)
		}
		if err := adm.Input(decl, sum.Sum()); err != nil {
			return err
		}
		hdr, err := adm.Answer(rends)
		if err != nil {
			return err
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
	}
	h.log.Info("segment transcoded", "stream", job.Stream, "seq", job.Seq, "renditions", len(rends), "took", time.Since(start).Round(time.Millisecond))
	WriteRenditions(w, http.StatusOK, rends)
	return nil
}

// keepsItsStatus reports whether err already says what went wrong in HTTP
// terms — a body over the cap (413), a transcoder that rejected the media
// (422), or no capacity now (503, so the sender goes elsewhere) — rather
// than being blamed on the media.
func keepsItsStatus(err error) bool {
	switch httpx.StatusOf(err) {
	case http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusServiceUnavailable,
		http.StatusBadRequest:
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
