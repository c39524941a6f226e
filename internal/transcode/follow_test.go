package transcode

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// partials collects a job's Partial chunks.
type partials struct {
	mu     sync.Mutex
	chunks map[string][][]byte
	bad    []string
}

func (p *partials) add(name string, off int64, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if have := int64(len(bytes.Join(p.chunks[name], nil))); off != have {
		p.bad = append(p.bad, fmt.Sprintf("%s: chunk at %d after %d bytes", name, off, have))
	}
	p.chunks[name] = append(p.chunks[name], b)
}

func (p *partials) all(names ...string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range names {
		if len(p.chunks[n]) == 0 {
			return false
		}
	}
	return true
}

// Renditions reach Partial while the segment is still arriving (the input
// is held open), and what Partial got is, byte for byte, what the job
// returns.
func TestPartialStreamsEveryRenditionAsFFmpegWritesIt(t *testing.T) {
	needFFmpeg(t)
	f, _ := newTestFFmpeg(t)
	input := readFile(t, makeInput(t, t.TempDir(), true))
	profiles := append([]Profile{SourceProfile()}, DefaultLadder()[2])
	got := &partials{chunks: map[string][][]byte{}}
	in := newStallingReader(input)
	done := make(chan Result, 1)
	go func() {
		res, err := f.Run(t.Context(), Job{Seq: 1, Input: in, Profiles: profiles, SourceWidth: testW,
			SourceHeight: testH, Partial: got.add})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-in.blocked
	deadline := time.Now().Add(20 * time.Second)
	for !got.all(profiles[0].Name, profiles[1].Name) {
		if time.Now().After(deadline) {
			t.Fatal("no partial output of every rendition while the input was still open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.Release(io.EOF)
	res := <-done
	if len(got.bad) > 0 {
		t.Errorf("offsets: %v", got.bad)
	}
	for _, r := range res.Renditions {
		if whole := bytes.Join(got.chunks[r.Profile.Name], nil); !bytes.Equal(whole, r.Data) {
			t.Errorf("%s: Partial delivered %d bytes in %d chunks, the rendition has %d", r.Profile.Name,
				len(whole), len(got.chunks[r.Profile.Name]), len(r.Data))
		}
	}
}
