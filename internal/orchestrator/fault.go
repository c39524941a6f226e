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
	// FaultInflate makes real renditions and sends each transcoded one
	// InflateTimes over, continuity counters renumbered so that it demuxes
	// as one stream (issue 11, attack 3): the orchestrator's own gate holds
	// it to the billing rules, as it does a transcoder node's answer, and
	// refuses to sign for or charge it (502), so a broadcaster fails the
	// segment over and bills nothing for it.
	FaultInflate = "inflate"
)

// InflateTimes is how many times over FaultInflate sends a rendition.
const InflateTimes = 50

// WithFault wraps tr so that it commits fault; "" returns tr unchanged.
func WithFault(tr transcode.Transcoder, fault string) (transcode.Transcoder, error) {
	switch fault {
	case "":
		return tr, nil
	case FaultCorrupt, FaultHang:
		return faulty{fault: fault}, nil
	case FaultInflate:
		return inflating{tr}, nil
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

// inflating is FaultInflate: an honest transcode, sent many times over.
type inflating struct{ tr transcode.Transcoder }

func (f inflating) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	rends, err := f.tr.Transcode(ctx, job)
	if err != nil {
		return nil, err
	}
	for i, r := range rends {
		if !r.Profile.IsSource() {
			rends[i].Data = renumberCC(bytes.Repeat(r.Data, InflateTimes))
		}
	}
	return rends, nil
}

// renumberCC rewrites the continuity counters of MPEG-TS packets so that
// each PID's count runs on without a jump (ISO/IEC 13818-1 §2.4.3.3):
// segments glued together then demux as one without a discontinuity.
func renumberCC(ts []byte) []byte {
	const packetSize = 188
	next := map[int]byte{}
	for off := 0; off+packetSize <= len(ts); off += packetSize {
		p := ts[off : off+packetSize]
		if p[3]&0x10 == 0 {
			continue // no payload: the counter does not advance
		}
		pid := int(p[1]&0x1F)<<8 | int(p[2])
		cc, seen := next[pid]
		if !seen {
			cc = p[3] & 0x0F
		}
		p[3] = p[3]&0xF0 | cc
		next[pid] = (cc + 1) & 0x0F
	}
	return ts
}
