package publish

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// needFFmpeg skips tests that encode media when ffmpeg is not installed.
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
}

// smallPattern is a test pattern cheap enough to encode on a busy machine.
func smallPattern(url string) Config {
	return Config{URL: url, TestPattern: true, Width: 320, Height: 240, FPS: 30, Bitrate: 400_000}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var progressLine = regexp.MustCompile(`^elapsed \d\d:\d\d  sent \d+\.\d\d Mbps  packets \d+  state [a-z]+$`)

func TestRunPublishesTestPatternToWHIPServerAndDeletesSession(t *testing.T) {
	needFFmpeg(t)
	before := goleak.IgnoreCurrent()
	srv := newWHIPServer(t)
	srv.token = "secret"
	var progress bytes.Buffer
	cfg := smallPattern(srv.url("cam"))
	cfg.Token = "secret"
	cfg.Duration = 4 * time.Second
	cfg.Progress = &progress
	cfg.Logger = testLogger(t)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := Run(ctx, cfg); err != nil {
		t.Fatalf("Run: %v", err)
	}
	srv.close()
	// Run has returned and the server is gone: nothing either started may
	// still be running.
	goleak.VerifyNone(t, before)

	// 4 s of 30 fps video in at least one packet per frame, and of 20 ms
	// Opus packets: 120 and 200, less any loss a loopback should not have.
	if v := srv.videoRTP.Load(); v < 110 {
		t.Errorf("server received %d video packets in 4 s, want at least 110 (%v)", v, srv)
	}
	if a := srv.audioRTP.Load(); a < 180 || a > 200 {
		t.Errorf("server received %d audio packets in 4 s, want 180..200 (%v)", a, srv)
	}
	if srv.deletes.Load() != 1 || srv.badDeletes.Load() != 0 {
		t.Errorf("DELETEs: %d accepted, %d refused; want 1 and 0", srv.deletes.Load(), srv.badDeletes.Load())
	}
	checkProgress(t, progress.String(), 3)
}

func checkProgress(t *testing.T, out string, min int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < min {
		t.Fatalf("got %d progress lines, want at least %d:\n%s", len(lines), min, out)
	}
	for _, l := range lines {
		if !progressLine.MatchString(l) {
			t.Errorf("progress line %q does not match %v", l, progressLine)
		}
	}
	if !strings.Contains(out, "state connected") {
		t.Errorf("no progress line says connected:\n%s", out)
	}
}

// prepareSmall prepares the small test pattern once for tests that publish
// it several times.
func prepareSmall(t *testing.T) *Media {
	t.Helper()
	needFFmpeg(t)
	m, err := Prepare(t.Context(), Config{TestPattern: true, Width: 320, Height: 240, FPS: 30, Bitrate: 400_000})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestPublishReportsExactFrameCountsForDuration(t *testing.T) {
	m := prepareSmall(t)
	srv := newWHIPServer(t)
	cfg := smallPattern(srv.url("cam"))
	cfg.Duration = 2 * time.Second
	st, err := Publish(t.Context(), cfg, m)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	// Media time, not wall time, decides when to stop: exactly 2 s worth.
	if st.VideoFrames != 60 || st.AudioFrames != 100 {
		t.Errorf("sent %d video and %d audio frames, want 60 and 100", st.VideoFrames, st.AudioFrames)
	}
	if st.Packets < st.VideoFrames+st.AudioFrames || st.Bytes <= st.Packets*12 {
		t.Errorf("stats %+v: fewer packets than frames or bytes than RTP headers", st)
	}
	if st.Duration < 1900*time.Millisecond {
		t.Errorf("sending 2 s of media took %v: not paced in real time", st.Duration)
	}
}

func TestPublishRefusedOfferNamesStatusAndBody(t *testing.T) {
	m := prepareSmall(t)
	for _, tc := range []struct {
		name     string
		token    string // the publisher's
		reject   int    // the server's
		wantCode int
		wantText string
	}{
		{name: "stream already live", reject: 409, wantCode: 409, wantText: "already live"},
		{name: "wrong token", token: "guess", wantCode: 401, wantText: "bad token"},
		{name: "missing token", wantCode: 401, wantText: "bad token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWHIPServer(t)
			srv.token, srv.reject = "secret", tc.reject
			if tc.reject != 0 {
				srv.token = ""
			}
			cfg := smallPattern(srv.url("cam"))
			cfg.Token = tc.token
			_, err := Publish(t.Context(), cfg, m)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.wantCode || !errors.Is(err, ErrUnexpectedStatus) {
				t.Fatalf("Publish error = %v, want a StatusError with code %d", err, tc.wantCode)
			}
			msg := err.Error()
			if !strings.Contains(msg, strconv.Itoa(tc.wantCode)) || !strings.Contains(msg, tc.wantText) {
				t.Errorf("error %q should name status %d and quote %q", msg, tc.wantCode, tc.wantText)
			}
			if srv.deletes.Load()+srv.badDeletes.Load() != 0 {
				t.Errorf("a refused offer has no session to DELETE, yet the server saw one")
			}
		})
	}
}

func TestPublishersShareOneMedia(t *testing.T) {
	m := prepareSmall(t)
	srv := newWHIPServer(t)
	const publishers = 3
	var wg sync.WaitGroup
	errs := make([]error, publishers)
	stats := make([]Stats, publishers)
	for i := range publishers {
		wg.Go(func() {
			cfg := smallPattern(srv.url("load"))
			cfg.Duration = 2 * time.Second
			stats[i], errs[i] = Publish(t.Context(), cfg, m)
		})
	}
	wg.Wait()
	for i := range publishers {
		if errs[i] != nil || stats[i].VideoFrames != 60 {
			t.Errorf("publisher %d: %+v, %v; want 60 video frames and no error", i, stats[i], errs[i])
		}
	}
	if srv.deletes.Load() != publishers {
		t.Errorf("server saw %d DELETEs, want %d", srv.deletes.Load(), publishers)
	}
}

func TestPublishStopsCleanlyWhenContextEnds(t *testing.T) {
	m := prepareSmall(t)
	srv := newWHIPServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	var progress lockedBuffer
	cfg := smallPattern(srv.url("cam"))
	cfg.Progress = &progress // Duration 0: the test pattern loops until ctx ends
	done := make(chan error, 1)
	go func() {
		_, err := Publish(ctx, cfg, m)
		done <- err
	}()
	waitFor(t, func() bool { return strings.Contains(progress.String(), "elapsed 00:02") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Publish after cancel = %v, want nil", err)
	}
	if srv.deletes.Load() != 1 {
		t.Errorf("server saw %d DELETEs after cancel, want 1", srv.deletes.Load())
	}
}

// lockedBuffer is a bytes.Buffer safe to write from Publish while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond with a generous deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishFailsFastWhenICECannotConnect(t *testing.T) {
	m := prepareSmall(t)
	srv := newWHIPServer(t)
	srv.unreachable = true
	cfg := smallPattern(srv.url("cam"))
	cfg.ConnectTimeout = time.Second
	_, err := Publish(t.Context(), cfg, m)
	if !errors.Is(err, ErrConnectTimeout) || !strings.Contains(err.Error(), "did not connect within 1s") {
		t.Fatalf("Publish = %v, want ErrConnectTimeout naming the 1s limit", err)
	}
	if srv.deletes.Load() != 1 {
		t.Errorf("server saw %d DELETEs, want 1: a session that never connected is still ended", srv.deletes.Load())
	}
}
