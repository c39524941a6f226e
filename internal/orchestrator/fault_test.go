package orchestrator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts"
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

// TestFaultInflate: the inflating orchestrator sends each transcoded
// rendition InflateTimes over with continuity counters that run on, so it
// demuxes as one stream; the source rendition is left alone.
func TestFaultInflate(t *testing.T) {
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	if err := m.WriteTables(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		pts := time.Duration(i) * 100 * time.Millisecond
		if err := m.WriteVideo(pts, pts, i == 0, []byte{0, 0, 0, 1, 0x65, byte(i), 0x80}); err != nil {
			t.Fatal(err)
		}
	}
	ts := buf.Bytes()
	honest := fakeTranscoder(func(job transcode.Job) []transcode.Rendition {
		return []transcode.Rendition{{Profile: job.Profiles[0], Data: bytes.Clone(ts)}, {Profile: job.Profiles[1], Data: bytes.Clone(ts)}}
	})
	tr, err := WithFault(honest, FaultInflate)
	if err != nil {
		t.Fatal(err)
	}
	job := transcode.Job{Seq: 1, Input: bytes.NewReader(nil), SourceWidth: 640, SourceHeight: 360,
		Profiles: []transcode.Profile{transcode.SourceProfile(), {Name: "180p", Width: 320, Height: 180, Bitrate: 300_000}}}
	rends, err := tr.Transcode(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rends[0].Data, ts) || len(rends[1].Data) != InflateTimes*len(ts) {
		t.Fatalf("source %d bytes, transcoded %d: want %d and %d", len(rends[0].Data), len(rends[1].Data), len(ts), InflateTimes*len(ts))
	}
	d := mpegts.NewDemuxer(bytes.NewReader(rends[1].Data))
	frames := 0
	for {
		pes, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d frames: %v", frames, err)
		}
		if pes.HasPTS {
			frames++
		}
	}
	if frames != 3*InflateTimes {
		t.Errorf("%d frames demuxed, want %d", frames, 3*InflateTimes)
	}
}

// fakeTranscoder makes renditions with fn.
type fakeTranscoder func(job transcode.Job) []transcode.Rendition

func (f fakeTranscoder) Transcode(_ context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	return f(job), nil
}
