package netpool

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// Lying orchestrators (issue 11, attack 3): output is checked from its own
// bytes before anything is paid for it, and a node that takes a payment and
// answers 402 is at fault.

func TestCheckPicture(t *testing.T) {
	job := segJob("a", 1) // 360p fits 1280x720 to 640x360, at most 30 fps
	r360 := job.Profiles[1]
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"the fitted size at the source's timing passes", makeVideo(srcStart, srcFrames, srcFPS, 640, 360), ""},
		{"the profile's full rate passes", makeVideo(srcStart, 60, 30, 640, 360), ""},
		{"an SPS of another size fails, whatever Castnet-Size says", makeVideo(srcStart, srcFrames, srcFPS, 1280, 720),
			"its SPS says 1280x720, want 640x360"},
		{"a forged SPS fails", makeVideo(srcStart, srcFrames, srcFPS, 16896, 16896), "its SPS says 16896x16896"},
		{"an SPS that switches mid-segment fails", switchVideo(640, 360, 16896, 16896), "switches it to 16896x16896 mid-segment"},
		{"frames sent again fail", repeatVideo(3, 640, 360), "2 of its 60 frames repeat or go back in time"},
		{"more frames than the rate allows fail", makeVideo(srcStart, 240, 120, 640, 360), "240 frames, above the 69"},
		{"a frame before any SPS fails", noSPS(), "before any H.264 SPS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPicture(job, transcode.Rendition{Profile: r360, Width: 640, Height: 360, Data: tt.data}, 2*time.Second)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// noSPS is one frame of fake H.264 with no SPS before it.
func noSPS() []byte {
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	if err := m.WriteTables(); err != nil {
		panic(err)
	}
	writeFrame(m, srcStart, 1, 0, 0)
	return buf.Bytes()
}

// paySealer is a remote.Sealer that pays with a fixed header (when pay is
// set) and records what each node's sealer was asked.
type paySealer struct {
	pay bool
	mu  sync.Mutex
	log map[string][]string // by node URL
}

func (s *paySealer) forNode(u string) remote.Sealer { return &nodeSealer{s: s, url: u} }

func (s *paySealer) calls(u string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log[u])
}

type nodeSealer struct {
	s   *paySealer
	url string
}

func (n *nodeSealer) note(what string) {
	n.s.mu.Lock()
	defer n.s.mu.Unlock()
	if n.s.log == nil {
		n.s.log = map[string][]string{}
	}
	n.s.log[n.url] = append(n.s.log[n.url], what)
}

func (n *nodeSealer) Headers(context.Context, transcode.Job) (http.Header, error) {
	if !n.s.pay {
		return nil, nil
	}
	n.note("pay")
	return http.Header{remote.HeaderPayment: {"tickets"}}, nil
}

func (n *nodeSealer) Segment(context.Context, transcode.Job, remote.SegmentSum) (string, error) {
	return "record", nil
}

func (n *nodeSealer) Answer(context.Context, transcode.Job, remote.SegmentSum, http.Header, []transcode.Rendition) (string, error) {
	n.note("settle")
	return "proof", nil
}

func (n *nodeSealer) Failed(_ context.Context, _ transcode.Job, code int) {
	n.note(fmt.Sprint("failed ", code))
}

// TestLiesAreNeverPaidFor: a node whose answer fails the checks is failed
// over and its answer never reaches the sealer (which settles: bills the
// publisher, debits the credit); the honest node's answer is settled once.
func TestLiesAreNeverPaidFor(t *testing.T) {
	for _, lie := range []string{"repeated", "forged-sps", "sps-switch", "too-many-frames", "wrong-size"} {
		t.Run(lie, func(t *testing.T) {
			b, g := startNode(t, lie), startNode(t, "ok")
			s := &paySealer{pay: true}
			p := newPool(t, Config{URLs: urls(b, g), Sealer: s.forNode})
			mustTranscode(t, p, "a", 1)
			if got := s.calls(b.URL); slices.Contains(got, "settle") {
				t.Errorf("the liar's answer was settled: %q", got)
			}
			if got := s.calls(g.URL); !slices.Equal(got, []string{"pay", "settle"}) {
				t.Errorf("the honest node: %q, want paid and settled once", got)
			}
			if st := state(t, p, b.URL); st.SegmentsFailed != 1 || !slices.Equal(st.SuspendedFor, []string{"a"}) {
				t.Errorf("liar: failed %d, suspended for %q", st.SegmentsFailed, st.SuspendedFor)
			}
		})
	}
}

// startRefuser starts a node whose gate refuses every segment with
// refusal: 402 as one that takes the payment and refuses the work does.
func startRefuser(t *testing.T, refusal error) *fakeNode {
	t.Helper()
	n := &fakeNode{}
	n.mode.Store("ok")
	n.info.Store(goodInfo)
	gate := gateFunc(func(*http.Request, transcode.Job) (remote.Admission, error) {
		n.calls.Add(1)
		return nil, refusal
	})
	mux := http.NewServeMux()
	mux.Handle(remote.Path, remote.NewHandler(remote.HandlerConfig{Transcoder: transcoderFunc(n.transcode), Capacity: 8, Gate: gate}))
	mux.HandleFunc("GET /api/info", n.serveInfo)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	n.URL = srv.URL
	return n
}

type gateFunc func(r *http.Request, job transcode.Job) (remote.Admission, error)

func (f gateFunc) Admit(r *http.Request, job transcode.Job) (remote.Admission, error) {
	return f(r, job)
}

// TestPaid402IsAFault: a node that answers 402 to a paid request (it took
// the tickets) is suspended for the stream like any faulty node, so it
// cannot take payment after payment; a 402 to an unpaid request (terms we
// did not know) is not its fault.
func TestPaid402IsAFault(t *testing.T) {
	unpaid := fmt.Errorf("credit 0 wei, this segment needs about 1000 wei: %w", httpx.ErrPaymentRequired)
	t.Run("after a payment", func(t *testing.T) {
		r, g := startRefuser(t, unpaid), startNode(t, "ok")
		s := &paySealer{pay: true}
		p := newPool(t, Config{URLs: urls(r, g), Sealer: s.forNode})
		for seq := range uint64(3) {
			mustTranscode(t, p, "a", seq)
		}
		if r.count() != 1 {
			t.Errorf("the refuser was paid %d times, want once", r.count())
		}
		if st := state(t, p, r.URL); st.SegmentsFailed != 1 || !slices.Equal(st.SuspendedFor, []string{"a"}) {
			t.Errorf("refuser: failed %d, suspended for %q", st.SegmentsFailed, st.SuspendedFor)
		}
	})
	t.Run("unpaid", func(t *testing.T) {
		r, g := startRefuser(t, unpaid), startNode(t, "ok")
		p := newPool(t, Config{URLs: urls(r, g), Sealer: (&paySealer{}).forNode})
		mustTranscode(t, p, "a", 1)
		if st := state(t, p, r.URL); st.SegmentsFailed != 0 || len(st.SuspendedFor) != 0 {
			t.Errorf("refuser: failed %d, suspended for %q", st.SegmentsFailed, st.SuspendedFor)
		}
	})
}

// TestPaid503IsBusy: a node that answers 503 to a paid request, as an
// orchestrator that could not store the payment's winning tickets does
// (pm.ErrNotPersisted: it took none of them), is busy, not faulty: the
// segment goes to the next node and the node is not suspended.
func TestPaid503IsBusy(t *testing.T) {
	r := startRefuser(t, httpx.WithRetryAfter(fmt.Errorf("winning tickets could not be stored: %w", httpx.ErrUnavailable), time.Second))
	g := startNode(t, "ok")
	s := &paySealer{pay: true}
	p := newPool(t, Config{URLs: urls(r, g), Sealer: s.forNode})
	mustTranscode(t, p, "a", 1)
	if r.count() != 1 || !slices.Equal(s.calls(r.URL), []string{"pay", "failed 503"}) {
		t.Errorf("the refuser: %d requests, sealer calls %q; want one paid request, failed 503", r.count(), s.calls(r.URL))
	}
	if st := state(t, p, r.URL); st.SegmentsFailed != 0 || len(st.SuspendedFor) != 0 {
		t.Errorf("a paid 503 counted as a fault: failed %d, suspended for %q", st.SegmentsFailed, st.SuspendedFor)
	}
}
