package netpool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

type transcoderFunc func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error)

func (f transcoderFunc) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	return f(ctx, job)
}

// startNode starts an orchestrator-like server whose transcoder behaves as mode
// says, counting the segments it was sent.
func startNode(t *testing.T, mode string, calls *atomic.Int32) string {
	t.Helper()
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		calls.Add(1)
		in, err := io.ReadAll(job.Input)
		if err != nil {
			return nil, err
		}
		switch mode {
		case "hang":
			<-ctx.Done()
			return nil, ctx.Err()
		case "fail":
			return nil, errors.New("ffmpeg exploded")
		}
		var out []transcode.Rendition
		for _, p := range job.Profiles {
			w, h := transcode.FitSize(p, job.SourceWidth, job.SourceHeight)
			if p.IsSource() || mode == "wrong-size" {
				w, h = job.SourceWidth, job.SourceHeight
			}
			out = append(out, transcode.Rendition{Profile: p, Width: w, Height: h, Data: in})
		}
		return out, nil
	})
	mux := http.NewServeMux()
	mux.Handle(remote.Path, remote.NewHandler(remote.HandlerConfig{Transcoder: tr}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func job() transcode.Job {
	data := []byte("segment bytes")
	return transcode.Job{Seq: 1, Input: bytes.NewReader(data), Reopen: func() io.Reader { return bytes.NewReader(data) },
		Profiles:    transcode.Ladder([]transcode.Profile{{Name: "360p", Width: 640, Height: 360, Bitrate: 700_000, FPS: 30}}, 1280, 720),
		SourceWidth: 1280, SourceHeight: 720}
}

func TestFailover(t *testing.T) {
	for _, bad := range []string{"fail", "hang", "wrong-size"} {
		t.Run(bad, func(t *testing.T) {
			var badCalls, goodCalls atomic.Int32
			p, err := New(Config{URLs: []string{startNode(t, bad, &badCalls), startNode(t, "ok", &goodCalls)},
				AttemptTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			rends, err := p.Transcode(context.Background(), job())
			if err != nil || len(rends) != 2 || string(rends[1].Data) != "segment bytes" {
				t.Fatalf("%v %+v", err, rends)
			}
			if badCalls.Load() != 1 || goodCalls.Load() != 1 {
				t.Fatalf("calls bad %d good %d", badCalls.Load(), goodCalls.Load())
			}
			// The failed orchestrator is suspended: the next segment goes
			// straight to the good one.
			if _, err := p.Transcode(context.Background(), job()); err != nil {
				t.Fatal(err)
			}
			if badCalls.Load() != 1 || goodCalls.Load() != 2 {
				t.Errorf("after suspension: calls bad %d good %d", badCalls.Load(), goodCalls.Load())
			}
		})
	}
}

func TestAllFail(t *testing.T) {
	var a, b atomic.Int32
	p, _ := New(Config{URLs: []string{startNode(t, "fail", &a), startNode(t, "fail", &b)}})
	if _, err := p.Transcode(context.Background(), job()); !errors.Is(err, ErrAllFailed) {
		t.Fatalf("err %v", err)
	}
}
