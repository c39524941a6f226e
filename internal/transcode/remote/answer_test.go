package remote

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
)

// previews collects a client job's Partial chunks.
type previews struct {
	mu   sync.Mutex
	got  map[string][]byte
	seen chan struct{}
	once sync.Once
}

func newPreviews() *previews { return &previews{got: map[string][]byte{}, seen: make(chan struct{})} }

func (p *previews) add(name string, off int64, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off == 0 {
		p.got[name] = nil
	}
	p.got[name] = append(p.got[name], b...)
	p.once.Do(func() { close(p.seen) })
}

// A client that asks for a streamed answer gets each rendition's bytes as
// the node's transcoder writes them, before the job is done, and then the
// same renditions a whole answer would give.
func TestStreamedAnswerArrivesWhileTheNodeStillWorks(t *testing.T) {
	pv := newPreviews()
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		drain(job)
		job.Partial("source", 0, []byte("sour"))
		select { // the client must see the chunk while the job still runs
		case <-pv.seen:
		case <-time.After(5 * time.Second):
			return nil, errors.New("the chunk did not reach the client while the job ran")
		}
		job.Partial("source", 4, []byte("ce"))
		job.Partial("120p", 0, []byte("low"))
		return []transcode.Rendition{{Profile: job.Profiles[0], Width: 320, Height: 240, Data: []byte("source")},
			{Profile: job.Profiles[1], Width: 160, Height: 120, Data: []byte("low")}}, nil
	})
	_, c := serve(t, tr, HandlerConfig{})
	rends, err := c.Transcode(t.Context(), transcode.Job{Seq: 1, Input: strings.NewReader("ts"), Profiles: ladder,
		SourceWidth: 320, SourceHeight: 240, Partial: pv.add})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rends {
		if !bytes.Equal(pv.got[r.Profile.Name], r.Data) {
			t.Errorf("%s: previewed %q, rendition %q", r.Profile.Name, pv.got[r.Profile.Name], r.Data)
		}
	}
}

// A failure after the streamed answer began reaches the client with the
// status a whole answer would have had.
func TestStreamedAnswerCarriesALateFailure(t *testing.T) {
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		drain(job)
		job.Partial("source", 0, []byte("sour"))
		return nil, httpx.WithRetryAfter(errors.Join(errors.New("no transcoder left"), httpx.ErrUnavailable), time.Second)
	})
	_, c := serve(t, tr, HandlerConfig{})
	_, err := c.Transcode(t.Context(), transcode.Job{Seq: 1, Input: strings.NewReader("ts"), Profiles: ladder,
		SourceWidth: 320, SourceHeight: 240, Partial: newPreviews().add})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want a 503 StatusError", err)
	}
}

// A client that does not ask (castnet/2) gets the whole answer as before.
func TestWholeAnswerUnlessAsked(t *testing.T) {
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		drain(job)
		if job.Partial != nil {
			return nil, errors.New("a castnet/2 request was streamed")
		}
		return []transcode.Rendition{{Profile: job.Profiles[0], Width: 320, Height: 240, Data: []byte("s")},
			{Profile: job.Profiles[1], Width: 160, Height: 120, Data: []byte("l")}}, nil
	})
	_, c := serve(t, tr, HandlerConfig{})
	if _, err := c.Transcode(t.Context(), transcode.Job{Seq: 1, Input: strings.NewReader("ts"), Profiles: ladder,
		SourceWidth: 320, SourceHeight: 240}); err != nil {
		t.Fatal(err)
	}
}

func drain(job transcode.Job) {
	buf := make([]byte, 512)
	for {
		if _, err := job.Input.Read(buf); err != nil {
			return
		}
	}
}
