package media

import "errors"

// Sentinel errors of package media. Functions wrap them with %w and add the
// detail, so callers test with errors.Is.
var (
	// ErrInvalidSPS reports an H.264 sequence parameter set that cannot be
	// parsed or describes an impossible picture.
	ErrInvalidSPS = errors.New("media: invalid H.264 SPS")

	// ErrInvalidOpus reports an Opus packet whose TOC byte or frame count
	// violates RFC 6716 §3.
	ErrInvalidOpus = errors.New("media: invalid Opus packet")
)
