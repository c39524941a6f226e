package netpool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/clock"
	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// The test segment: 2 s of 10 fps video starting at PTS 10 s.
const (
	srcStart  = 10 * time.Second
	srcFrames = 20
	srcFPS    = 10
)

const goodInfo = `{"protocol":"castnet/2","codecs":["h264"],"capacity":4,"free":4,"price_per_pixel":"0","max_dimension":7680}`

// makeTS muxes frames of fake H.264 at fps from start, its SPS saying the
// test source's 1280x720: enough for the demuxer, which reads timestamps and
// not pictures.
func makeTS(start time.Duration, frames, fps int) []byte {
	return makeVideo(start, frames, fps, 1280, 720)
}

// makeVideo is makeTS with an SPS of w × h on the first frame. Writing to
// memory cannot fail, so errors panic.
func makeVideo(start time.Duration, frames, fps, w, h int) []byte {
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	if err := m.WriteTables(); err != nil {
		panic(err)
	}
	for i := range frames {
		writeFrame(m, start+time.Duration(i)*time.Second/time.Duration(fps), i, w, h)
	}
	return buf.Bytes()
}

// writeFrame writes fake frame i at pts; frame 0 is an IDR after an SPS of
// w × h.
func writeFrame(m *mpegts.Muxer, pts time.Duration, i, w, h int) {
	nalus := [][]byte{{0x41, byte(i), 0x80}} // non-IDR slice
	if i == 0 {
		nalus = [][]byte{mpegtstest.SPS(w, h), {0x65, 0x88, 0x80}}
	}
	if err := m.WriteVideoNALUs(pts, pts, i == 0, nalus); err != nil {
		panic(err)
	}
}

// segJob is segment seq of stream, with one rung below the 720p source.
func segJob(stream string, seq uint64) transcode.Job {
	data := makeTS(srcStart, srcFrames, srcFPS)
	return transcode.Job{Stream: stream, Seq: seq, Input: bytes.NewReader(data),
		Reopen:      func() io.Reader { return bytes.NewReader(data) },
		Profiles:    transcode.Ladder([]transcode.Profile{{Name: "360p", Width: 640, Height: 360, Bitrate: 700_000, FPS: 30}}, 1280, 720),
		SourceWidth: 1280, SourceHeight: 720}
}

type transcoderFunc func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error)

func (f transcoderFunc) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	return f(ctx, job)
}

// fakeNode is an orchestrator-like server: remote.NewHandler over a fake
// transcoder that behaves as its mode says, and an /api/info serving info.
type fakeNode struct {
	URL    string
	calls  atomic.Int32 // segments received
	called notifier     // at every segment received
	probes atomic.Int32
	mode   atomic.Value // string
	info   atomic.Value // string; "" answers 500, "hang" never answers
	delay  atomic.Int64 // added to every answer
	// clock, when set, is the pool's fake clock: the delay advances it
	// instead of passing on the wall clock.
	clock atomic.Pointer[clock.Fake]
	// gate, when set before the node starts, holds every answer until it
	// is closed.
	gate chan struct{}
}

// startNode starts a fakeNode in mode with goodInfo.
func startNode(t *testing.T, mode string) *fakeNode {
	t.Helper()
	n := &fakeNode{}
	n.mode.Store(mode)
	n.info.Store(goodInfo)
	mux := http.NewServeMux()
	mux.Handle(remote.Path, remote.NewHandler(remote.HandlerConfig{Transcoder: transcoderFunc(n.transcode), Capacity: 8}))
	mux.HandleFunc("GET /api/info", n.serveInfo)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	n.URL = srv.URL
	return n
}

func (n *fakeNode) setMode(m string)         { n.mode.Store(m) }
func (n *fakeNode) setInfo(s string)         { n.info.Store(s) }
func (n *fakeNode) count() int               { return int(n.calls.Load()) }
func (n *fakeNode) setDelay(d time.Duration) { n.delay.Store(int64(d)) }
func (n *fakeNode) useClock(c *clock.Fake)   { n.clock.Store(c) }

// waitCalls waits until the node has received k segments.
func (n *fakeNode) waitCalls(t *testing.T, k int) {
	t.Helper()
	n.called.waitUntil(t, func() bool { return n.count() >= k }, "segments received")
}

func (n *fakeNode) serveInfo(w http.ResponseWriter, r *http.Request) {
	n.probes.Add(1)
	switch info := n.info.Load().(string); info {
	case "":
		http.Error(w, "broken", http.StatusInternalServerError)
	case "hang":
		<-r.Context().Done()
	default:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, info)
	}
}

func (n *fakeNode) transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	n.calls.Add(1)
	n.called.notify()
	in, err := io.ReadAll(job.Input)
	if err != nil {
		return nil, err
	}
	if err := n.wait(ctx); err != nil {
		return nil, err
	}
	mode := n.mode.Load().(string)
	if mode == "hang" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if mode == "fail" {
		return nil, errors.New("ffmpeg exploded\n[h264] second line of stderr")
	}
	var out []transcode.Rendition
	for i, p := range job.Profiles {
		if mode == "missing" && i == len(job.Profiles)-1 {
			break
		}
		w, h := transcode.FitSize(p, job.SourceWidth, job.SourceHeight)
		data := goodRendition(p, in, w, h)
		if !p.IsSource() {
			data = spoil(mode, data, w, h)
		}
		if mode == "wrong-size" {
			w, h = job.SourceWidth, job.SourceHeight
		}
		out = append(out, transcode.Rendition{Profile: p, Width: w, Height: h, Data: data})
	}
	return out, nil
}

// wait holds an answer for the node's gate and its delay: on the wall
// clock, or at once on the fake one, which it advances by the delay.
func (n *fakeNode) wait(ctx context.Context) error {
	if n.gate != nil {
		select {
		case <-n.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d := time.Duration(n.delay.Load())
	if c := n.clock.Load(); c != nil {
		c.Advance(d)
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// goodRendition is what an honest node makes of the test segment in for
// p: the source as it came, a transcoded rendition with the same timing at
// its fitted size w × h.
func goodRendition(p transcode.Profile, in []byte, w, h int) []byte {
	if p.IsSource() {
		return in
	}
	return makeVideo(srcStart, srcFrames, srcFPS, w, h)
}

// spoil is what a faulty or lying node sends for a transcoded rendition of
// w × h instead of good.
func spoil(mode string, good []byte, w, h int) []byte {
	switch mode {
	case "garbage":
		return bytes.Repeat([]byte("not a transport stream "), 100)
	case "truncated":
		return good[:len(good)*2/5]
	case "empty-ts":
		return makeVideo(srcStart, 0, srcFPS, w, h)
	case "short":
		return makeVideo(srcStart, srcFrames/2, srcFPS, w, h)
	case "shifted":
		return makeVideo(srcStart+time.Second, srcFrames, srcFPS, w, h)
	case "repeated": // the segment 50 times over, counters running on
		return repeatVideo(50, w, h)
	case "forged-sps": // declared at w × h, but the SPS says 16896x16896
		return makeVideo(srcStart, srcFrames, srcFPS, 16896, 16896)
	case "sps-switch": // w × h, then an SPS of 16896x16896 mid-segment
		return switchVideo(w, h, 16896, 16896)
	case "too-many-frames": // four times the profile's rate
		return makeVideo(srcStart, 4*30*srcFrames/srcFPS, 4*30, w, h)
	}
	return good
}

// repeatVideo muxes the test segment's frames n times over in one muxer,
// so that the continuity counters run on as if renumbered.
func repeatVideo(n, w, h int) []byte {
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	if err := m.WriteTables(); err != nil {
		panic(err)
	}
	for range n {
		for i := range srcFrames {
			writeFrame(m, srcStart+time.Duration(i)*time.Second/srcFPS, i, w, h)
		}
	}
	return buf.Bytes()
}

// switchVideo is the test segment at w × h whose SPS switches to sw × sh
// halfway.
func switchVideo(w, h, sw, sh int) []byte {
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	if err := m.WriteTables(); err != nil {
		panic(err)
	}
	for i := range srcFrames {
		pts := srcStart + time.Duration(i)*time.Second/srcFPS
		if i == srcFrames/2 {
			w, h = sw, sh
			if err := m.WriteVideoNALUs(pts, pts, true, [][]byte{mpegtstest.SPS(w, h), {0x65, 0x88, 0x80}}); err != nil {
				panic(err)
			}
			continue
		}
		writeFrame(m, pts, i, w, h)
	}
	return buf.Bytes()
}

// newPool builds a Pool closed at the end of the test and waits for its
// first probe round, so that rankings start from known info.
func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	select {
	case <-p.firstProbe:
	case <-time.After(10 * time.Second):
		t.Fatal("first probe round did not end")
	}
	return p
}

// urls returns the nodes' URLs.
func urls(ns ...*fakeNode) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.URL)
	}
	return out
}

// mustTranscode sends segment seq of stream and fails the test on error.
func mustTranscode(t *testing.T, p *Pool, stream string, seq uint64) {
	t.Helper()
	rends, err := p.Transcode(context.Background(), segJob(stream, seq))
	if err != nil {
		t.Fatalf("stream %s segment %d: %v", stream, seq, err)
	}
	if len(rends) != 2 {
		t.Fatalf("stream %s segment %d: %d renditions", stream, seq, len(rends))
	}
}

// state returns the snapshot of the node at u.
func state(t *testing.T, p *Pool, u string) NodeState {
	t.Helper()
	for _, s := range p.Snapshot() {
		if s.URL == u {
			return s
		}
	}
	t.Fatalf("%s not in the snapshot", u)
	return NodeState{}
}

// logBuf collects a logger's lines for tests to count.
type logBuf struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote notifier
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.wrote.notify()
	return l.b.Write(p)
}

// waitFor waits until a line contains every one of subs.
func (l *logBuf) waitFor(t *testing.T, subs ...string) {
	t.Helper()
	l.wrote.waitUntil(t, func() bool { return l.count(subs...) > 0 }, fmt.Sprintf("a log line with %q", subs))
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count returns how many lines contain every one of subs.
func (l *logBuf) count(subs ...string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

func newLog() (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// notifier lets a test wait for a condition that other goroutines change,
// without polling: they notify after each change.
type notifier struct {
	mu sync.Mutex
	ch chan struct{} // closed at the next notify
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

func (n *notifier) next() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// waitUntil waits until cond holds, checking it at every notify, for at
// most 10 s: a bound for a broken test, not a timing.
func (n *notifier) waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	limit := time.After(10 * time.Second)
	for {
		ch := n.next()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-limit:
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// newFake returns a fake clock for a pool's Config.Clock.
func newFake() *clock.Fake { return clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) }

// waitDue waits until the pool has armed a timer due d from c's now.
func waitDue(t *testing.T, c *clock.Fake, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.BlockUntilDue(ctx, d); err != nil {
		t.Fatalf("no timer due in %v (pending %v): %v", d, c.Pending(), err)
	}
}

// transcodeAsync sends segment seq of stream in the background; the
// channel gets its error.
func transcodeAsync(p *Pool, stream string, seq uint64) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := p.Transcode(context.Background(), segJob(stream, seq))
		done <- err
	}()
	return done
}

// result waits for a transcodeAsync's error, for at most 10 s.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the segment did not end in 10 s")
		return nil
	}
}
