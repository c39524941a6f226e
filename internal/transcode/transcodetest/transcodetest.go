// Package transcodetest holds test transcoders for the packages that move
// segments between nodes (remote, dispatch, transcoder, netpool): they
// need renditions whose bytes are known, not real encodes.
package transcodetest

import (
	"context"
	"io"

	"github.com/castnet/castnet/internal/transcode"
)

// Echo "transcodes" by returning the whole input as every profile's
// rendition, sized as FitSize fits the profile to the job's source.
var Echo transcode.Func = func(_ context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	in, err := io.ReadAll(job.Input)
	if err != nil {
		return nil, err
	}
	out := make([]transcode.Rendition, 0, len(job.Profiles))
	for _, p := range job.Profiles {
		w, h := transcode.FitSize(p, job.SourceWidth, job.SourceHeight)
		out = append(out, transcode.Rendition{Profile: p, Width: w, Height: h, Data: in})
	}
	return out, nil
}
