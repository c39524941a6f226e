package httpx

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// HandlerFunc is an HTTP handler that returns an error instead of writing
// one: Handle turns the error into the response.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts fn into an http.Handler that writes fn's error, if any, as a
// short plain-text reason with the status StatusOf assigns. Internal errors
// are logged in full and shown to the client only as "internal error".
func Handle(log *slog.Logger, fn HandlerFunc) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			WriteError(log, w, r, err)
		}
	})
}

// WriteError writes err as a response: status from StatusOf, Retry-After when
// the error carries one, and the error text as the reason.
func WriteError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	status, msg := Public(err)
	if status == http.StatusInternalServerError {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		log.Info("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "reason", msg)
	}
	if d, ok := RetryAfter(err); ok {
		w.Header().Set("Retry-After", retryAfterSeconds(d))
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	line := fmt.Sprintf("%d %s", status, strings.ToLower(http.StatusText(status)))
	if msg != "" {
		line += ": " + msg
	}
	fmt.Fprintln(w, line)
}

// Public is what a client is told of err: its status (StatusOf) and the
// reason WriteError would send, "internal error" for a 500, whose detail
// is for the log only. For answers that already began, where the error
// must travel inside the body.
func Public(err error) (status int, msg string) {
	status, class := classOf(err)
	if status == http.StatusInternalServerError {
		return status, "internal error"
	}
	return status, reason(err, class)
}

// ReadBody reads at most limit bytes of r's body, failing with ErrTooLarge
// beyond that so an oversized request cannot exhaust memory.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("body over %d bytes: %w", limit, ErrTooLarge)
		}
		return nil, fmt.Errorf("reading body: %w", errors.Join(ErrBadRequest, err))
	}
	return b, nil
}

// RequireContentType fails with ErrUnsupportedMedia unless the request's
// media type (parameters ignored, case-insensitive) is want.
func RequireContentType(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	mt, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mt), want) {
		if ct == "" {
			ct = "none"
		}
		return fmt.Errorf("content type must be %s, got %s: %w", want, ct, ErrUnsupportedMedia)
	}
	return nil
}
