package netpool

import (
	"fmt"

	"github.com/castnet/castnet/internal/transcode"
)

// checkOutput rejects renditions that are not what was asked: each
// requested profile exactly once, nothing else, not empty, and at the size
// FitSize gives (the source keeps the source size). An orchestrator must
// make what it was paid for.
func checkOutput(job transcode.Job, rends []transcode.Rendition) error {
	want := make(map[string]bool, len(job.Profiles))
	for _, p := range job.Profiles {
		want[p.Name] = true
	}
	for _, r := range rends {
		if !want[r.Profile.Name] {
			return fmt.Errorf("rendition %q unrequested or repeated", r.Profile.Name)
		}
		delete(want, r.Profile.Name)
		w, h := transcode.FitSize(r.Profile, job.SourceWidth, job.SourceHeight)
		if r.Width != w || r.Height != h || len(r.Data) == 0 {
			return fmt.Errorf("rendition %s is %dx%d (%d bytes), want %dx%d", r.Profile.Name, r.Width, r.Height, len(r.Data), w, h)
		}
	}
	for _, p := range job.Profiles {
		if want[p.Name] {
			return fmt.Errorf("rendition %s missing", p.Name)
		}
	}
	return nil
}
