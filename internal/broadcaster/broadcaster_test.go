package broadcaster

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/ingest/whip"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/transcode"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTranscoder is a Transcoder whose behaviour each test sets.
type fakeTranscoder struct {
	fn    func(job transcode.Job, input []byte) ([]transcode.Rendition, error)
	mu    sync.Mutex
	calls []string // "seq:profiles"
}

func (f *fakeTranscoder) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	in, err := io.ReadAll(job.Input)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range job.Profiles {
		names = append(names, p.Name)
	}
	f.mu.Lock()
	f.calls = append(f.calls, strings.Join(names, ","))
	f.mu.Unlock()
	return f.fn(job, in)
}

// echo returns the input as every rendition, like a ladder that changes
// nothing: enough for the pipeline, which only moves bytes.
func echo(job transcode.Job, in []byte) ([]transcode.Rendition, error) {
	var out []transcode.Rendition
	for _, p := range job.Profiles {
		w, h := transcode.FitSize(p, job.SourceWidth, job.SourceHeight)
		if p.IsSource() {
			w, h = job.SourceWidth, job.SourceHeight
		}
		out = append(out, transcode.Rendition{Profile: p, Width: w, Height: h, Data: in})
	}
	return out, nil
}

type pipelineHarness struct {
	b     *Broadcaster
	store *hls.Store
	dir   string
}

// newPipeline builds a broadcaster over tr. Tests feed units faster than
// real time, so the in-flight bound is lifted unless a test sets it.
func newPipeline(t *testing.T, tr transcode.Transcoder, maxInFlight ...int) *pipelineHarness {
	return newPipelineConfig(t, tr, func(c *Config) {
		if len(maxInFlight) > 0 {
			c.MaxInFlight = maxInFlight[0]
		}
	})
}

func newPipelineConfig(t *testing.T, tr transcode.Transcoder, edit func(*Config)) *pipelineHarness {
	t.Helper()
	dir := t.TempDir()
	store, err := hls.New(hls.Config{Dir: filepath.Join(dir, "hls")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Transcoder: tr, Store: store, Segment: time.Second, MaxInFlight: 1000,
		Profiles: []transcode.Profile{{Name: "90p", Width: 160, Height: 90, Bitrate: 100_000, FPS: 30}}}
	edit(&cfg)
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(); _ = store.Close() })
	return &pipelineHarness{b: b, store: store, dir: filepath.Join(dir, "hls")}
}

// feed publishes real 160x120 H.264 (an IDR every second) as a session
// would, then ends the stream.
func (h *pipelineHarness) feed(t *testing.T, name string, seconds float64) StreamInfo {
	t.Helper()
	units := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: seconds, FPS: 30})
	sink, err := h.b.StartStream(context.Background(), whip.Publish{Stream: name, Session: "s1",
		Video: media.CodecH264, RequestKeyframe: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range units {
		sink.WriteAccessUnit(au)
	}
	sink.Close(nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		in, err := h.b.Stream(name)
		if err != nil {
			t.Fatal(err)
		}
		if in.State == StateEnded {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s never ended: %+v", name, in)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func playlist(t *testing.T, dir, stream, rendition string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, stream, rendition, "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSegmentsPublishInOrderAndEnd(t *testing.T) {
	tr := &fakeTranscoder{fn: echo}
	h := newPipeline(t, tr)
	in := h.feed(t, "ok", 4)
	if in.Published < 3 || in.Failures != 0 || in.LastError != "" {
		t.Fatalf("published %d failures %d error %q", in.Published, in.Failures, in.LastError)
	}
	if in.Turnaround == nil || in.Turnaround.Segments != in.Published || in.Turnaround.P50 <= 0 ||
		in.Turnaround.P50 > in.Turnaround.Max {
		t.Errorf("turnaround should cover every published segment: %+v", in.Turnaround)
	}
	names := []string{}
	for _, r := range in.Renditions {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "90p,source" {
		t.Errorf("renditions %v", names)
	}
	for _, r := range []string{"source", "90p"} {
		pl := playlist(t, h.dir, "ok", r)
		if !strings.Contains(pl, "#EXT-X-ENDLIST") || strings.Count(pl, "#EXTINF") != int(in.Published) {
			t.Errorf("%s playlist:\n%s", r, pl)
		}
	}
}

func TestFailedSegmentPublishesSourceAndStreamGoesOn(t *testing.T) {
	tr := &fakeTranscoder{fn: func(job transcode.Job, in []byte) ([]transcode.Rendition, error) {
		if job.Seq == 1 && len(job.Profiles) > 1 {
			return nil, errors.New("ffmpeg: exit status 1: Invalid data found")
		}
		return echo(job, in)
	}}
	h := newPipeline(t, tr)
	in := h.feed(t, "flaky", 4)
	if in.Failures != 1 || in.SourceOnly != 1 {
		t.Fatalf("failures %d source-only %d, want 1 and 1", in.Failures, in.SourceOnly)
	}
	if !strings.Contains(in.LastError, "segment 1") || !strings.Contains(in.LastError, "Invalid data") {
		t.Errorf("last error %q does not say which segment failed and why", in.LastError)
	}
	rung := playlist(t, h.dir, "flaky", "90p")
	if !strings.Contains(rung, "#EXT-X-DISCONTINUITY") || strings.Count(rung, "#EXTINF") != int(in.Published) {
		t.Errorf("90p playlist must list every segment, the failed one from the source:\n%s", rung)
	}
	if in.Published < 3 {
		t.Errorf("stream stopped after the failure: %d published", in.Published)
	}
}

func TestSegmentPublishedAsReceivedWhenEvenSourcePassFails(t *testing.T) {
	tr := &fakeTranscoder{fn: func(job transcode.Job, in []byte) ([]transcode.Rendition, error) {
		if job.Seq == 0 {
			return nil, errors.New("ffmpeg crashed")
		}
		return echo(job, in)
	}}
	h := newPipeline(t, tr)
	in := h.feed(t, "raw", 3)
	if in.Failures != 2 {
		t.Errorf("failures %d, want 2 (ladder and source pass of segment 0)", in.Failures)
	}
	seg0, err := os.ReadFile(filepath.Join(h.dir, "raw", "source", "0.ts"))
	if err != nil || len(seg0) == 0 || seg0[0] != 0x47 {
		t.Fatalf("segment 0 not published as received MPEG-TS: %v", err)
	}
}

func TestUnknownStreamIsNotFound(t *testing.T) {
	h := newPipeline(t, &fakeTranscoder{fn: echo})
	if _, err := h.b.Stream("nope"); !errors.Is(err, ErrNoStream) {
		t.Fatalf("err %v, want ErrNoStream", err)
	}
}

// TestBusyTranscoderDegradesToSource: with more segments in flight than the
// bound, new segments are published as source instead of queueing.
func TestBusyTranscoderDegradesToSource(t *testing.T) {
	release := make(chan struct{})
	tr := &fakeTranscoder{fn: func(job transcode.Job, in []byte) ([]transcode.Rendition, error) {
		if len(job.Profiles) > 1 {
			<-release
		}
		return echo(job, in)
	}}
	h := newPipeline(t, tr, 1)
	go func() { time.Sleep(500 * time.Millisecond); close(release) }()
	in := h.feed(t, "busy", 4)
	if in.SourceOnly == 0 || in.Failures != 0 {
		t.Fatalf("source-only %d failures %d: want busy segments published as source, not failed", in.SourceOnly, in.Failures)
	}
	if in.Published != in.Segments {
		t.Errorf("published %d of %d segments", in.Published, in.Segments)
	}
}

// TestTimedOutLadderStillGetsASourcePass: the source-only pass has its own
// deadline, so a ladder that used up the first one still yields a playable
// (AAC) source, not the raw segment.
func TestTimedOutLadderStillGetsASourcePass(t *testing.T) {
	tr := &ctxTranscoder{fn: func(ctx context.Context, job transcode.Job, in []byte) ([]transcode.Rendition, error) {
		if job.Seq == 1 && len(job.Profiles) > 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return echo(job, in)
	}}
	h := newPipelineConfig(t, tr, func(c *Config) { c.TranscodeTimeout = 300 * time.Millisecond })
	in := h.feed(t, "slow", 4)
	if in.Failures != 1 || in.SourceOnly != 1 {
		t.Fatalf("failures %d source-only %d: want the ladder timeout only, then a good source pass", in.Failures, in.SourceOnly)
	}
}

// ctxTranscoder is a fake that sees the job's context.
type ctxTranscoder struct {
	fn func(ctx context.Context, job transcode.Job, in []byte) ([]transcode.Rendition, error)
}

func (c *ctxTranscoder) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	if err := ctx.Err(); err != nil { // as ffmpeg: no work on a dead context
		return nil, err
	}
	in, err := io.ReadAll(job.Input)
	if err != nil {
		return nil, err
	}
	return c.fn(ctx, job, in)
}

func TestSourceOnlyPublishesSegmentsAsCutWithoutATranscoder(t *testing.T) {
	h := newPipelineConfig(t, nil, func(c *Config) { c.SourceOnly = true })
	in := h.feed(t, "relay", 4)
	if in.Published < 3 || in.Failures != 0 || in.SourceOnly != 0 || in.LastError != "" {
		t.Fatalf("published %d failures %d source-only %d error %q", in.Published, in.Failures, in.SourceOnly, in.LastError)
	}
	if len(in.Renditions) != 1 || in.Renditions[0].Name != transcode.SourceName {
		t.Fatalf("renditions %+v, want the source alone", in.Renditions)
	}
	pl := playlist(t, h.dir, "relay", "source")
	if strings.Count(pl, "#EXTINF") != int(in.Published) || !strings.Contains(pl, "#EXT-X-ENDLIST") {
		t.Errorf("source playlist:\n%s", pl)
	}
	seg0, err := os.ReadFile(filepath.Join(h.dir, "relay", "source", "0.ts"))
	if err != nil || len(seg0) == 0 || seg0[0] != 0x47 {
		t.Fatalf("segment 0 is not the cut MPEG-TS: %v", err)
	}
}

func TestNoTranscoderNeedsSourceOnly(t *testing.T) {
	store, err := hls.New(hls.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := New(Config{Store: store}); err == nil {
		t.Fatal("a broadcaster with neither a transcoder nor SourceOnly was built")
	}
}

// An ended stream stays listed in the API; its record must not keep the
// WHIP session alive through the Publish closures (the soak bench found
// a PeerConnection's buffers, ~200 KiB, held per stream name).
func TestEndedStreamLetsGoOfItsSession(t *testing.T) {
	h := newPipelineConfig(t, nil, func(c *Config) { c.SourceOnly = true })
	pub, held := sessionHoldingMemory("gone")
	units := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: 2, FPS: 30})
	sink, err := h.b.StartStream(context.Background(), pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range units {
		sink.WriteAccessUnit(au)
	}
	sink.Close(nil)
	var in StreamInfo
	for deadline := time.Now().Add(20 * time.Second); in.State != StateEnded; time.Sleep(20 * time.Millisecond) {
		if in, err = h.b.Stream("gone"); err != nil || time.Now().After(deadline) {
			t.Fatalf("stream never ended: %v %+v", err, in)
		}
	}
	runtime.GC()
	runtime.GC()
	if held.Value() != nil {
		t.Error("the ended stream still holds its session")
	}
	if in.Transport.PacketsVideo != 64<<10 {
		t.Errorf("ended stream's transport counters %+v, want the session's last", in.Transport)
	}
}

// sessionHoldingMemory is a Publish whose closures hold 64 KiB, as a WHIP
// session's hold its PeerConnection, and a weak pointer to watch it.
func sessionHoldingMemory(name string) (whip.Publish, weak.Pointer[[64 << 10]byte]) {
	buf := new([64 << 10]byte)
	return whip.Publish{Stream: name, Session: "s1", Video: media.CodecH264,
		RequestKeyframe: func() { buf[0]++ },
		Stats:           func() whip.SessionStats { return whip.SessionStats{PacketsVideo: uint64(len(buf))} },
	}, weak.Make(buf)
}
