package orchestrator

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/castnet/castnet/internal/transcode"
)

// Faults an orchestrator can be told to commit, so that a broadcaster's
// failover is tested against a real process rather than a mock.
const (
	// FaultCorrupt makes the transcoder return renditions of the right
	// names and sizes whose bytes are not video (the orchestrator's gate
	// then refuses to sign for them: 502).
	FaultCorrupt = "corrupt"
	// FaultHang reads the segment and then never answers.
	FaultHang = "hang"
)

// WithFault wraps tr so that it commits fault; "" returns tr unchanged.
func WithFault(tr transcode.Transcoder, fault string) (transcode.Transcoder, error) {
	switch fault {
	case "":
		return tr, nil
	case FaultCorrupt, FaultHang:
		return faulty{fault: fault}, nil
	}
	return nil, fmt.Errorf("orchestrator: unknown fault %q", fault)
}

type faulty struct{ fault string }

func (f faulty) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	if _, err := io.Copy(io.Discard, job.Input); err != nil {
		return nil, err
	}
	if f.fault == FaultHang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var out []transcode.Rendition
	for _, p := range job.Profiles {
		w, h := transcode.FitSize(p, job.SourceWidth, job.SourceHeight)
		if p.IsSource() {
			w, h = job.SourceWidth, job.SourceHeight
		}
		out = append(out, transcode.Rendition{Profile: p, Width: w, Height: h,
			Data: bytes.Repeat([]byte("not video "), 1000)})
	}
	return out, nil
}
