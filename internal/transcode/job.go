package transcode

import (
	"errors"
	"fmt"
)

// Validate checks that j can be transcoded: an input, at least one profile,
// a known source size, and valid encoded profiles. The source profile may
// appear in Profiles (it needs no validation).
func (j Job) Validate() error {
	var errs []error
	if j.Input == nil {
		errs = append(errs, errors.New("no input"))
	}
	if len(j.Profiles) == 0 {
		errs = append(errs, errors.New("no profiles"))
	}
	if j.SourceWidth < 1 || j.SourceWidth > MaxDimension || j.SourceHeight < 1 || j.SourceHeight > MaxDimension {
		errs = append(errs, fmt.Errorf("source size %dx%d is outside 1..%d", j.SourceWidth, j.SourceHeight, MaxDimension))
	}
	for i, p := range j.Profiles {
		if p.IsSource() {
			continue
		}
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("profile %d (%q): %w", i, p.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: seq %d: %w", ErrInvalidJob, j.Seq, errors.Join(errs...))
	}
	return nil
}
