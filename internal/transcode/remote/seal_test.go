package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/transcodetest"
)

// recSealer is a Sealer that records what it was asked, in order, and pays
// with a fixed header when pay is set.
type recSealer struct {
	pay bool
	mu  sync.Mutex
	log []string
}

func (s *recSealer) note(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, what)
}

func (s *recSealer) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

func (s *recSealer) Headers(context.Context, transcode.Job) (http.Header, error) {
	s.note("headers")
	if !s.pay {
		return nil, nil
	}
	return http.Header{HeaderPayment: {"tickets"}}, nil
}

func (s *recSealer) Segment(context.Context, transcode.Job, SegmentSum) (string, error) {
	s.note("segment")
	return "record", nil
}

func (s *recSealer) Answer(context.Context, transcode.Job, SegmentSum, http.Header, []transcode.Rendition) (string, error) {
	s.note("answer")
	return "proof", nil
}

func (s *recSealer) Failed(_ context.Context, _ transcode.Job, code int) {
	s.note(fmt.Sprint("failed ", code))
}

// gateFunc adapts a function to Gate.
type gateFunc func(r *http.Request, job transcode.Job) (Admission, error)

func (f gateFunc) Admit(r *http.Request, job transcode.Job) (Admission, error) { return f(r, job) }

// echo makes each profile's rendition out of the input bytes.
var echo = transcodetest.Echo

func sealJob() transcode.Job {
	return transcode.Job{Seq: 1, Input: strings.NewReader("segment"), Profiles: ladder, SourceWidth: 640, SourceHeight: 360}
}

// TestClientChecksBeforeTheSealerSettles: the renditions are checked before
// the sealer sees the answer (Answer settles: it bills and debits), so
// output the broadcaster refuses is never paid for (issue 11, attack 3).
func TestClientChecksBeforeTheSealerSettles(t *testing.T) {
	bad := errors.New("renditions repeat themselves")
	for _, tt := range []struct {
		name  string
		check error
		want  []string
	}{
		{"refused output is never answered", bad, []string{"headers", "segment", "check", "failed 0"}},
		{"accepted output is answered after the check", nil, []string{"headers", "segment", "check", "answer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, c := serve(t, transcoderFunc(echo), HandlerConfig{})
			s := &recSealer{}
			c.Sealer = s
			rends, err := c.TranscodeChecked(context.Background(), sealJob(), func(job transcode.Job, r []transcode.Rendition) error {
				s.note("check")
				if len(r) != len(job.Profiles) {
					t.Errorf("checked %d renditions", len(r))
				}
				return tt.check
			})
			if !errors.Is(err, tt.check) || (tt.check == nil) != (len(rends) == 2) {
				t.Fatalf("%d renditions, err %v, want %v", len(rends), err, tt.check)
			}
			if got := s.calls(); !slices.Equal(got, tt.want) {
				t.Errorf("sealer calls %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStatusErrorSaysWhetherItWasPaid: a refusal of a request that carried
// a payment says so, for the pool to tell a node that takes payments and
// answers 402 (a fault) from one whose terms we did not know (issue 11).
func TestStatusErrorSaysWhetherItWasPaid(t *testing.T) {
	gate := gateFunc(func(*http.Request, transcode.Job) (Admission, error) {
		return nil, fmt.Errorf("credit 0 wei: %w", httpx.ErrPaymentRequired)
	})
	for _, pay := range []bool{true, false} {
		_, c := serve(t, transcoderFunc(echo), HandlerConfig{Gate: gate})
		s := &recSealer{pay: pay}
		c.Sealer = s
		_, err := c.Transcode(context.Background(), sealJob())
		var se *StatusError
		if !errors.As(err, &se) || se.Code != http.StatusPaymentRequired || se.Paid != pay {
			t.Errorf("paying %v: err %#v, want a 402 with Paid %v", pay, err, pay)
		}
		if got := s.calls(); !slices.Contains(got, "failed 402") {
			t.Errorf("paying %v: sealer calls %q", pay, got)
		}
	}
}
