// Package remote carries transcoding across HTTP: a Client that implements
// transcode.Transcoder by streaming each segment to a node, and a Handler
// that serves those requests with any local Transcoder. The segment body is
// sent while it is still being cut (chunked upload), so the far side's
// ffmpeg works in step with the publisher; the answer is one
// multipart/mixed part per rendition. See docs/protocol.md (castnet/2).
package remote

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
)

// Path is where a node accepts segments.
const Path = "/v1/transcode"

// Request and part headers of the protocol.
const (
	HeaderSeq       = "Castnet-Seq"
	HeaderStream    = "Castnet-Stream"   // optional label: the broadcaster's stream name
	HeaderProfiles  = "Castnet-Profiles" // base64url(JSON list of transcode.Profile)
	HeaderSource    = "Castnet-Source"   // WIDTHxHEIGHT of the input
	HeaderRendition = "Castnet-Rendition"
	HeaderSize      = "Castnet-Size" // WIDTHxHEIGHT of a rendition
	HeaderHash      = "Castnet-Sha256"
)

// Protocol errors.
var (
	ErrBadRequest = fmt.Errorf("bad transcode request: %w", httpx.ErrBadRequest)
	ErrBadAnswer  = errors.New("bad transcode answer")
)

// maxProfilesHeader bounds the encoded ladder: a few hundred bytes a rung.
const maxProfilesHeader = 8 << 10

func encodeProfiles(ps []transcode.Profile) (string, error) {
	b, err := json.Marshal(ps)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeProfiles reads and validates the ladder a request asks for. The
// source rung is named, not described, so it is let through as is.
func decodeProfiles(s string) ([]transcode.Profile, error) {
	if s == "" || len(s) > maxProfilesHeader {
		return nil, fmt.Errorf("%w: %s missing or over %d bytes", ErrBadRequest, HeaderProfiles, maxProfilesHeader)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadRequest, HeaderProfiles, err)
	}
	var ps []transcode.Profile
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadRequest, HeaderProfiles, err)
	}
	var rungs []transcode.Profile
	for _, p := range ps {
		if !p.IsSource() {
			rungs = append(rungs, p)
		}
	}
	if len(ps) == 0 || len(ps) > 16 {
		return nil, fmt.Errorf("%w: want 1 to 16 profiles, got %d", ErrBadRequest, len(ps))
	}
	if len(rungs) > 0 {
		if err := transcode.ValidateProfiles(rungs); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	}
	return ps, nil
}

func formatSize(w, h int) string { return strconv.Itoa(w) + "x" + strconv.Itoa(h) }

func parseSize(s string) (int, int, error) {
	ws, hs, ok := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 || w > transcode.MaxDimension || h > transcode.MaxDimension {
		return 0, 0, fmt.Errorf("size %q: want WIDTHxHEIGHT", s)
	}
	return w, h, nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
