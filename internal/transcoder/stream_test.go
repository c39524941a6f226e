package transcoder_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// seen collects what a job's Partial got at the orchestrator.
type seen struct {
	mu    sync.Mutex
	bytes map[string][]byte
	first chan struct{}
	once  sync.Once
}

func (s *seen) add(name string, off int64, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off == 0 {
		s.bytes[name] = nil
	}
	s.bytes[name] = append(s.bytes[name], b...)
	s.once.Do(func() { close(s.first) })
}

// A transcoder's result streams to the orchestrator as it is made: the
// orchestrator's job sees the first chunk while the transcoder still
// works, and the result is what the chunks made.
func TestResultStreamsToTheOrchestratorWhileItIsMade(t *testing.T) {
	p, srv := newPool(t, secret)
	got := &seen{bytes: map[string][]byte{}, first: make(chan struct{})}
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		rends, err := echo(ctx, job)
		if err != nil || job.Partial == nil {
			return nil, errors.New("the job was not asked to stream")
		}
		for _, r := range rends {
			job.Partial(r.Profile.Name, 0, r.Data[:1])
		}
		select {
		case <-got.first:
		case <-time.After(5 * time.Second):
			return nil, errors.New("the first chunk did not reach the orchestrator while the job ran")
		}
		for _, r := range rends {
			job.Partial(r.Profile.Name, 1, r.Data[1:])
		}
		return rends, nil
	})
	n := newNode(t, srv, tr, 1)
	run(t, n)
	waitFor(t, "registration", func() bool { return p.Capacity() == 1 })
	rends, err := p.Transcode(context.Background(), transcode.Job{Seq: 1, Input: strings.NewReader("ts"), Profiles: ladder,
		SourceWidth: 320, SourceHeight: 240, Partial: got.add})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rends {
		if !bytes.Equal(got.bytes[r.Profile.Name], r.Data) {
			t.Errorf("%s: streamed %q, result %q", r.Profile.Name, got.bytes[r.Profile.Name], r.Data)
		}
	}
}

// A job that fails after its result began streaming is reported with its
// class: an input failure is not moved to another transcoder.
func TestStreamedResultCarriesTheFailureClass(t *testing.T) {
	p, srv := newPool(t, secret)
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		job.Partial("source", 0, []byte("x"))
		return nil, errors.Join(errors.New("not H.264"), transcode.ErrFFmpeg)
	})
	n := newNode(t, srv, tr, 1)
	run(t, n)
	waitFor(t, "registration", func() bool { return p.Capacity() == 1 })
	_, err := p.Transcode(context.Background(), transcode.Job{Seq: 1, Input: strings.NewReader("ts"), Profiles: ladder,
		SourceWidth: 320, SourceHeight: 240, Partial: func(string, int64, []byte) {}})
	if !errors.Is(err, remote.ErrTranscode) || !strings.Contains(err.Error(), "not H.264") {
		t.Fatalf("err = %v, want the input failure", err)
	}
}
