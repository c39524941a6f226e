package dispatch_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// TestRedispatchWhenTranscoderDropsMidSegment: a transcoder reads part of a
// segment that is still growing and then crashes; the job moves to the
// other transcoder, which reads the segment again from byte 0, and the
// crashed one's slots leave the pool.
func TestRedispatchWhenTranscoderDropsMidSegment(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{PickupTimeout: 3 * time.Second})
	fake := connectFake(t, srv, 2) // the most free slots: it gets the job first
	startNode(t, p, srv, echo, 1)
	data := segment(100_000)
	input, release := growingInput(t, data, 40_000)
	ch := transcodeAsync(context.Background(), p, job(5, input))

	ev := fake.next(remote.EventJob)
	if ev.Stream != "cam" || ev.Seq != 5 || ev.SourceWidth != 320 || ev.SourceHeight != 240 || !reflect.DeepEqual(ev.Profiles, ladder) {
		t.Fatalf("job event %+v", ev)
	}
	in, head := fake.readInput(ev.Job, 1000)
	if !bytes.Equal(head, data[:1000]) {
		t.Fatal("input does not start at byte 0")
	}
	fake.drop()
	in.Close()
	waitFor(t, "the dropped transcoder to leave", func() bool { return p.Capacity() == 1 })
	release() // the rest of the segment arrives after the move

	r := await(t, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.rends) != 2 || r.rends[0].Profile.Name != "source" || r.rends[1].Profile.Name != "120p" {
		t.Fatalf("renditions %+v", r.rends)
	}
	for _, rend := range r.rends {
		if !bytes.Equal(rend.Data, data) {
			t.Fatalf("%s: %d bytes, want the whole %d-byte segment", rend.Profile.Name, len(rend.Data), len(data))
		}
	}
	if p.Free() != 1 || p.Capacity() != 1 {
		t.Fatalf("free %d of %d, want 1 of 1", p.Free(), p.Capacity())
	}
	snap := p.Snapshot()
	if len(snap.Transcoders) != 1 || snap.Transcoders[0].Name != "real" || snap.Transcoders[0].JobsDone != 1 || len(snap.Jobs) != 0 {
		t.Fatalf("snapshot %+v", snap)
	}
	// The crashed transcoder's late result finds nothing.
	ct, body := remote.EncodeRenditions(r.rends)
	if code := fake.post(remote.JobResultPath(ev.Job), ct, body, nil); code != http.StatusNotFound {
		t.Fatalf("late result: %d, want 404", code)
	}
}

// TestOnlyTranscoderDroppingFailsFast: with nobody to take the job over,
// the broadcaster hears 503 at once, not after a deadline.
func TestOnlyTranscoderDroppingFailsFast(t *testing.T) {
	const pickup = 3 * time.Second
	p, srv := newPool(t, dispatch.Config{PickupTimeout: pickup})
	fake := connectFake(t, srv, 1)
	input, _ := growingInput(t, segment(50_000), 20_000)
	ch := transcodeAsync(context.Background(), p, job(1, input))
	ev := fake.next(remote.EventJob)
	in, _ := fake.readInput(ev.Job, 1000)
	dropped := time.Now()
	fake.drop()
	in.Close()
	r := await(t, ch)
	if took := r.at.Sub(dropped); took > time.Second {
		t.Fatalf("failed %v after the drop; want well under the pickup timeout (%v)", took, pickup)
	}
	if httpx.StatusOf(r.err) != http.StatusServiceUnavailable || !errors.Is(r.err, dispatch.ErrLost) {
		t.Fatalf("err %v (status %d), want ErrLost / 503", r.err, httpx.StatusOf(r.err))
	}
	if p.Free() != 0 || p.Capacity() != 0 {
		t.Fatalf("free %d of %d, want 0 of 0", p.Free(), p.Capacity())
	}
}

// TestPickupTimeout: a transcoder that never fetches its job's input is
// treated as lost: its session is ended and the job moves on, or fails
// with 503 when no one else can take it.
func TestPickupTimeout(t *testing.T) {
	const pickup = 200 * time.Millisecond
	tests := map[string]struct {
		other bool // another transcoder is connected
	}{
		"alone":              {other: false},
		"with another ready": {other: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, srv := newPool(t, dispatch.Config{PickupTimeout: pickup})
			fake := connectFake(t, srv, 2)
			if tc.other {
				startNode(t, p, srv, echo, 1)
			}
			start := time.Now()
			ch := transcodeAsync(context.Background(), p, job(2, bytes.NewReader(segment(5000))))
			ev := fake.next(remote.EventJob) // and never fetch the input
			r := await(t, ch)
			if took := r.at.Sub(start); took < pickup || took > pickup+2*time.Second {
				t.Fatalf("took %v with a pickup timeout of %v", took, pickup)
			}
			if tc.other {
				if r.err != nil || len(r.rends) != 2 {
					t.Fatalf("not moved to the other transcoder: %v", r.err)
				}
			} else if httpx.StatusOf(r.err) != http.StatusServiceUnavailable {
				t.Fatalf("err %v, want 503", r.err)
			}
			if !fake.ended() {
				t.Fatal("the silent transcoder's session was not ended")
			}
			want := 0
			if tc.other {
				want = 1
			}
			if p.Capacity() != want || p.Free() != want {
				t.Fatalf("free %d of %d, want %d of %d", p.Free(), p.Capacity(), want, want)
			}
			resp := do(t, srv, context.Background(), "GET", remote.JobInputPath(ev.Job), secret, "", nil, nil)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("input of an abandoned job: %d, want 404", resp.StatusCode)
			}
		})
	}
}

// TestTranscoderFailureMovesTheJob: a transcoder that reports its own
// failure or sends a result that fails its checks keeps its session, but
// the job moves to another transcoder.
func TestTranscoderFailureMovesTheJob(t *testing.T) {
	data := segment(3000)
	good := func() []byte { _, b := remote.EncodeRenditions(echoed(data, 320, 240, 160, 120)); return b }
	tests := map[string]struct {
		path     func(id string) string
		hdr      http.Header
		body     func(ct *string) []byte
		wantCode int
	}{
		"failure report": {remote.JobFailurePath, http.Header{remote.HeaderFailure: {remote.FailureTranscoder}},
			func(ct *string) []byte { *ct = "text/plain"; return []byte("out of GPU memory") }, http.StatusNoContent},
		"hash mismatch": {remote.JobResultPath, nil, func(ct *string) []byte {
			c, b := remote.EncodeRenditions(echoed(data, 320, 240, 160, 120))
			*ct = c
			return bytes.Replace(b, data[:16], []byte("XXXXXXXXXXXXXXXX"), 1)
		}, http.StatusBadRequest},
		"wrong size": {remote.JobResultPath, nil, func(ct *string) []byte {
			c, b := remote.EncodeRenditions(echoed(data, 320, 240, 100, 100))
			*ct = c
			return b
		}, http.StatusBadRequest},
		"missing rendition": {remote.JobResultPath, nil, func(ct *string) []byte {
			c, b := remote.EncodeRenditions(echoed(data, 320, 240, 160, 120)[:1])
			*ct = c
			return b
		}, http.StatusBadRequest},
		"not multipart": {remote.JobResultPath, nil, func(ct *string) []byte { *ct = "video/mp2t"; return good() },
			http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, srv := newPool(t, dispatch.Config{})
			fake := connectFake(t, srv, 2)
			startNode(t, p, srv, echo, 1)
			ch := transcodeAsync(context.Background(), p, job(3, bytes.NewReader(data)))
			ev := fake.next(remote.EventJob)
			in, _ := fake.readInput(ev.Job, len(data))
			in.Close()
			var ct string
			body := tc.body(&ct)
			if code := fake.post(tc.path(ev.Job), ct, body, tc.hdr); code != tc.wantCode {
				t.Fatalf("post: %d, want %d", code, tc.wantCode)
			}
			r := await(t, ch)
			if r.err != nil || len(r.rends) != 2 || !bytes.Equal(r.rends[1].Data, data) {
				t.Fatalf("job not moved: %v", r.err)
			}
			if p.Capacity() != 3 || p.Free() != 3 {
				t.Fatalf("free %d of %d, want 3 of 3 (the failing transcoder stays)", p.Free(), p.Capacity())
			}
			for _, tr := range p.Snapshot().Transcoders {
				if tr.Name == "fake" && tr.JobsFailed != 1 || tr.Name == "real" && tr.JobsDone != 1 {
					t.Fatalf("counts %+v", tr)
				}
			}
		})
	}
}

// TestRedispatchCanBeTurnedOff: with Redispatch < 0 a lost transcoder
// fails the job even though another is free.
func TestRedispatchCanBeTurnedOff(t *testing.T) {
	p, srv := newPool(t, dispatch.Config{Redispatch: -1})
	fake := connectFake(t, srv, 2)
	startNode(t, p, srv, echo, 1)
	ch := transcodeAsync(context.Background(), p, job(4, bytes.NewReader(segment(1000))))
	fake.next(remote.EventJob)
	fake.drop()
	r := await(t, ch)
	if !errors.Is(r.err, dispatch.ErrLost) {
		t.Fatalf("err %v, want ErrLost", r.err)
	}
	if p.Free() != 1 {
		t.Fatalf("free %d, want 1", p.Free())
	}
}

// echoed builds renditions of data as echo would, with the given sizes.
func echoed(data []byte, w0, h0, w1, h1 int) []transcode.Rendition {
	return []transcode.Rendition{
		{Profile: ladder[0], Width: w0, Height: h0, Data: data},
		{Profile: ladder[1], Width: w1, Height: h1, Data: data},
	}
}
