package transcode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	valid "github.com/castnet/castnet/internal/names"
)

// Limits a profile must respect. Dimensions are even because 4:2:0 chroma is
// subsampled by two in both directions; the other bounds reject typos (a
// bitrate given in kbps, say) rather than encode limits.
const (
	MinDimension  = 16
	MaxDimension  = 7680
	MinBitrate    = 50_000
	MaxBitrate    = 50_000_000
	MinFPS        = 1
	MaxFPS        = 120
	MaxGOPSeconds = 60
	MaxNameLength = valid.MaxRendition // a name becomes an HLS rendition directory
)

// SourceName is the reserved name of the passthrough rendition.
const SourceName = "source"

// Profile describes one rendition of the ladder.
type Profile struct {
	// Name labels the rendition; it becomes a directory name downstream, so
	// only [a-z0-9_-] is allowed.
	Name string `json:"name"`
	// Width and Height bound the output; the source aspect ratio is kept
	// inside that box (see FitSize).
	Width  int `json:"width"`
	Height int `json:"height"`
	// Bitrate is the target video bitrate in bits per second.
	Bitrate int `json:"bitrate"`
	// FPS is the output frame rate; the output is constant frame rate.
	FPS int `json:"fps"`
	// GOP is the keyframe interval in seconds; 0 means a single keyframe at
	// the segment start, which is all that segment-by-segment HLS needs.
	GOP float64 `json:"gop,omitempty"`
}

// SourceProfile returns the passthrough profile: video is copied untouched
// and only audio is transcoded (to AAC, since players of MPEG-TS HLS do not
// play Opus).
func SourceProfile() Profile { return Profile{Name: SourceName} }

// IsSource reports whether p is the passthrough profile.
func (p Profile) IsSource() bool { return p.Name == SourceName }

// DefaultLadder returns castnet's default renditions, highest first.
func DefaultLadder() []Profile {
	return []Profile{
		{Name: "720p", Width: 1280, Height: 720, Bitrate: 3_000_000, FPS: 30},
		{Name: "480p", Width: 854, Height: 480, Bitrate: 1_200_000, FPS: 30},
		{Name: "360p", Width: 640, Height: 360, Bitrate: 700_000, FPS: 30},
	}
}

// Validate checks one encoded profile; all problems are reported at once.
// The source profile is not a valid encoded profile: it is added by Ladder.
func (p Profile) Validate() error {
	errs := []error{validateName(p.Name)}
	errs = append(errs,
		validateDimension("width", p.Width),
		validateDimension("height", p.Height),
		validateRange("bitrate", p.Bitrate, MinBitrate, MaxBitrate),
		validateRange("fps", p.FPS, MinFPS, MaxFPS),
		validateGOP(p.GOP, p.FPS),
	)
	return errors.Join(errs...)
}

func validateName(name string) error {
	switch {
	case name == "":
		return errors.New("name is empty")
	case name == SourceName:
		return fmt.Errorf("name %q is reserved for the passthrough rendition", name)
	case len(name) > MaxNameLength:
		return fmt.Errorf("name is longer than %d characters", MaxNameLength)
	}
	if !valid.Rendition(name) {
		return fmt.Errorf("name %q may contain only a-z, 0-9, '_' and '-' (it becomes a directory name)", name)
	}
	return nil
}

func validateDimension(what string, v int) error {
	if err := validateRange(what, v, MinDimension, MaxDimension); err != nil {
		return err
	}
	if v%2 != 0 {
		return fmt.Errorf("%s %d must be even (4:2:0 chroma)", what, v)
	}
	return nil
}

func validateRange(what string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %d is outside %d..%d", what, v, lo, hi)
	}
	return nil
}

func validateGOP(gop float64, fps int) error {
	switch {
	case gop != gop || gop < 0 || gop > MaxGOPSeconds: // gop != gop: NaN
		return fmt.Errorf("gop %v seconds is outside 0..%d", gop, MaxGOPSeconds)
	case gop > 0 && fps > 0 && gopFrames(gop, fps) < 1:
		return fmt.Errorf("gop %v seconds is shorter than one frame at %d fps", gop, fps)
	}
	return nil
}

// ParseProfiles decodes and validates a JSON list of profiles, such as
// [{"name":"720p","width":1280,"height":720,"bitrate":3000000,"fps":30}].
// Unknown fields are rejected so that a misspelt key does not silently fall
// back to zero.
func ParseProfiles(data []byte) ([]Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ps []Profile
	if err := dec.Decode(&ps); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProfile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: unexpected data after the profile list", ErrInvalidProfile)
	}
	if err := ValidateProfiles(ps); err != nil {
		return nil, err
	}
	return ps, nil
}

// ValidateProfiles checks a profile list: not empty, each profile valid, and
// names unique. The error names each bad profile by index and name.
func ValidateProfiles(ps []Profile) error {
	if len(ps) == 0 {
		return fmt.Errorf("%w: the profile list is empty", ErrInvalidProfile)
	}
	var errs []error
	seen := make(map[string]int, len(ps))
	for i, p := range ps {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("profile %d (%q): %w", i, p.Name, err))
		}
		if j, dup := seen[p.Name]; dup && p.Name != "" {
			errs = append(errs, fmt.Errorf("profile %d (%q): name already used by profile %d", i, p.Name, j))
		} else if !dup {
			seen[p.Name] = i
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidProfile, errors.Join(errs...))
	}
	return nil
}

// LoadProfiles reads a JSON profile list from a file (see ParseProfiles).
func LoadProfiles(path string) ([]Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProfile, err)
	}
	ps, err := ParseProfiles(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ps, nil
}
