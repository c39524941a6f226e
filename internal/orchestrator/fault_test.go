package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/transcode"
)

func TestFaults(t *testing.T) {
	job := transcode.Job{Seq: 1, Input: bytes.NewReader([]byte("segment")), SourceWidth: 640, SourceHeight: 360,
		Profiles: []transcode.Profile{transcode.SourceProfile(), {Name: "180p", Width: 320, Height: 180, Bitrate: 300_000}}}

	tr, err := WithFault(nil, FaultCorrupt)
	if err != nil {
		t.Fatal(err)
	}
	rends, err := tr.Transcode(context.Background(), job)
	if err != nil || len(rends) != 2 || rends[1].Width != 320 || bytes.Contains(rends[0].Data, []byte{0x47}) {
		t.Fatalf("corrupt: %v %+v", err, rends)
	}

	job.Input = bytes.NewReader([]byte("segment"))
	tr, _ = WithFault(nil, FaultHang)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := tr.Transcode(ctx, job); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: %v", err)
	}
	if _, err := WithFault(nil, "explode"); err == nil {
		t.Fatal("unknown fault accepted")
	}
}
