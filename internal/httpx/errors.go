// Package httpx holds castnet's HTTP plumbing: the one place where errors
// become status codes, handlers that return errors, body limits, CORS and
// server timeouts.
package httpx

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error classes. Packages wrap these in their own sentinels, e.g.
//
//	var ErrStreamLive = fmt.Errorf("stream already live: %w", httpx.ErrConflict)
//
// so that StatusOf, the single mapping from error to HTTP status, needs no
// knowledge of the packages that produce errors.
var (
	ErrBadRequest           = errors.New("bad request")
	ErrUnauthorized         = errors.New("unauthorized")
	ErrPaymentRequired      = errors.New("payment required")
	ErrForbidden            = errors.New("forbidden")
	ErrNotFound             = errors.New("not found")
	ErrMethodNotAllowed     = errors.New("method not allowed")
	ErrConflict             = errors.New("conflict")
	ErrPreconditionFailed   = errors.New("precondition failed")
	ErrRequestTimeout       = errors.New("request timed out")
	ErrTooLarge             = errors.New("request body too large")
	ErrUnsupportedMedia     = errors.New("unsupported media type")
	ErrUnprocessable        = errors.New("unprocessable")
	ErrPreconditionRequired = errors.New("precondition required")
	ErrUnavailable          = errors.New("service unavailable")
	ErrInsufficientStorage  = errors.New("insufficient storage")
	ErrGatewayTimeout       = errors.New("timed out")
	ErrBadGateway           = errors.New("bad upstream result")
)

var statusOf = []struct {
	err    error
	status int
}{
	// First: a request cut off for being slow failed because it was slow,
	// whatever the read error was wrapped in (a bad request, bad input).
	{ErrRequestTimeout, http.StatusRequestTimeout},
	{ErrBadRequest, http.StatusBadRequest},
	{ErrUnauthorized, http.StatusUnauthorized},
	{ErrPaymentRequired, http.StatusPaymentRequired},
	{ErrForbidden, http.StatusForbidden},
	{ErrNotFound, http.StatusNotFound},
	{ErrMethodNotAllowed, http.StatusMethodNotAllowed},
	{ErrConflict, http.StatusConflict},
	{ErrPreconditionFailed, http.StatusPreconditionFailed},
	{ErrTooLarge, http.StatusRequestEntityTooLarge},
	{ErrUnsupportedMedia, http.StatusUnsupportedMediaType},
	{ErrUnprocessable, http.StatusUnprocessableEntity},
	{ErrPreconditionRequired, http.StatusPreconditionRequired},
	{ErrUnavailable, http.StatusServiceUnavailable},
	{ErrInsufficientStorage, http.StatusInsufficientStorage},
	{ErrBadGateway, http.StatusBadGateway},
	{ErrGatewayTimeout, http.StatusGatewayTimeout},
}

// StatusOf maps an error to the HTTP status a client should see. Errors of no
// known class are internal errors.
func StatusOf(err error) int {
	status, _ := classOf(err)
	return status
}

// classOf returns err's status and the class that decided it (nil for a
// MaxBytesError or an internal error).
func classOf(err error) (int, error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, nil
	}
	for _, m := range statusOf {
		if errors.Is(err, m.err) {
			return m.status, m.err
		}
	}
	return http.StatusInternalServerError, nil
}

// reason is err's text for the status line, without its class's own words.
// Packages wrap a class in their sentinels ("no usable codec: %w" around
// ErrUnprocessable) and the status line already says "422 unprocessable
// entity", so the class's text, wherever the wrapping put it (a ": "
// segment of any line), would say the status twice. The reason stays one
// line: a line whose last segment was the class continues after ": " (an
// errors.Join inside a wrap), any other line break becomes a space (a
// tool's stderr).
func reason(err, class error) string {
	var b strings.Builder
	sep := ""
	for _, l := range strings.Split(err.Error(), "\n") {
		kept, cut := dropSegment(l, class)
		if kept != "" {
			b.WriteString(sep + kept)
			sep = " "
		}
		if cut && b.Len() > 0 {
			sep = ": "
		}
	}
	return b.String()
}

// dropSegment removes the ": " segments of line equal to class's text, and
// says whether the last one was.
func dropSegment(line string, class error) (string, bool) {
	if class == nil {
		return line, false
	}
	parts := strings.Split(line, ": ")
	kept := make([]string, 0, len(parts))
	for _, p := range parts {
		if p != class.Error() {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ": "), parts[len(parts)-1] == class.Error()
}

// retryAfterError asks the client to come back later (RFC 9110 §10.2.3).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// WithRetryAfter attaches a Retry-After hint to err.
func WithRetryAfter(err error, after time.Duration) error {
	return &retryAfterError{err: err, after: after}
}

// RetryAfter reports the Retry-After hint carried by err, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after, true
	}
	return 0, false
}

func retryAfterSeconds(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}
