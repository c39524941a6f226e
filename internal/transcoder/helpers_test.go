package transcoder_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
	"github.com/castnet/castnet/internal/transcode/transcodetest"
	"github.com/castnet/castnet/internal/transcoder"
)

// TestMain fails the run if a session or job goroutine outlives its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "s3cret"

var ladder = transcode.Ladder([]transcode.Profile{{Name: "120p", Width: 160, Height: 120, Bitrate: 100_000, FPS: 30}}, 320, 240)

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// transcoderFunc adapts a function to transcode.Transcoder.
type transcoderFunc = transcode.Func

// echo returns the input as every rendition.
var echo = transcodetest.Echo

// newPool serves a real orchestrator pool, closed when the test ends.
func newPool(t *testing.T, poolSecret string) (*dispatch.Pool, *httptest.Server) {
	t.Helper()
	p, err := dispatch.New(dispatch.Config{Secret: poolSecret, Heartbeat: 100 * time.Millisecond, Logger: testLogger(t).With("side", "O")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { p.Close() })
	return p, srv
}

// newNode builds a node for srv with quick backoff.
func newNode(t *testing.T, srv *httptest.Server, tr transcode.Transcoder, capacity int) *transcoder.Node {
	t.Helper()
	n, err := transcoder.New(transcoder.Config{OrchestratorURL: srv.URL, Secret: secret, Capacity: capacity, Name: "t1",
		Transcoder: tr, HTTP: srv.Client(), Logger: testLogger(t).With("side", "T"),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// run starts n.Run until the test ends; the returned channel gets Run's
// result.
func run(t *testing.T, n *transcoder.Node) <-chan error {
	t.Helper()
	done, exited := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(exited)
		done <- n.Run(context.Background())
	}()
	t.Cleanup(func() {
		n.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	return done
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeO is a scripted orchestrator: session runs each session (its index
// counts from 0); job inputs are served from input; results and failures
// are recorded.
type fakeO struct {
	srv      *httptest.Server
	sessions atomic.Int32
	input    []byte
	reports  chan report
	// stall, when set, is how long a job's input stops after its first
	// bytes.
	stall time.Duration
}

// report is one POST a node made to a job endpoint.
type report struct {
	path, class, body string
}

func newFakeO(t *testing.T, session func(w http.ResponseWriter, r *http.Request, i int)) *fakeO {
	t.Helper()
	o := &fakeO{input: []byte("segment bytes"), reports: make(chan report, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+remote.SessionPath, func(w http.ResponseWriter, r *http.Request) {
		i := int(o.sessions.Add(1)) - 1
		session(w, r, i)
	})
	mux.HandleFunc("GET "+remote.JobInputPattern, func(w http.ResponseWriter, r *http.Request) {
		writeLine(w, o.input)
		if o.stall > 0 {
			select {
			case <-time.After(o.stall):
			case <-r.Context().Done():
			}
		}
	})
	record := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		o.reports <- report{r.URL.Path, r.Header.Get(remote.HeaderFailure), string(body)}
		w.WriteHeader(http.StatusNoContent)
	}
	mux.HandleFunc("POST "+remote.JobResultPattern, record)
	mux.HandleFunc("POST "+remote.JobFailurePattern, record)
	o.srv = httptest.NewServer(mux)
	t.Cleanup(o.srv.Close)
	return o
}

// startSession answers 200 with the session content type and a hello.
func startSession(w http.ResponseWriter, heartbeat time.Duration) {
	w.Header().Set("Content-Type", remote.SessionContentType)
	w.WriteHeader(http.StatusOK)
	line, _ := remote.EncodeEvent(remote.Event{Type: remote.EventHello, Transcoder: "fake-o", Heartbeat: heartbeat})
	writeLine(w, line)
}

func writeLine(w http.ResponseWriter, line []byte) {
	w.Write(line)
	http.NewResponseController(w).Flush()
}

// jobLine is a job event for id.
func jobLine(id string) []byte {
	line, err := remote.EncodeEvent(remote.Event{Type: remote.EventJob, Job: id, Stream: "cam", Seq: 1,
		SourceWidth: 320, SourceHeight: 240, Profiles: ladder})
	if err != nil {
		panic(err)
	}
	return line
}
