package transcode

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTranscodeDefaultLadder(t *testing.T) {
	needFFmpeg(t)
	f, tmp := newTestFFmpeg(t)
	input := readFile(t, makeInput(t, t.TempDir(), true))
	in := probe(t, input)
	inVideo, inAudio := in.streamOf("video"), in.streamOf("audio")
	// The 720p rung is kept although Ladder would drop it for a 720p
	// source, so every default rung is exercised.
	profiles := append([]Profile{SourceProfile()}, DefaultLadder()...)

	res, err := f.Run(t.Context(), Job{Seq: 1, Input: bytes.NewReader(input), Profiles: profiles, SourceWidth: testW, SourceHeight: testH})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Renditions) != len(profiles) {
		t.Fatalf("%d renditions for %d profiles", len(res.Renditions), len(profiles))
	}
	for i, r := range res.Renditions {
		t.Run(r.Profile.Name, func(t *testing.T) {
			if r.Profile != profiles[i] {
				t.Fatalf("rendition %d is %q, want profiles in job order", i, r.Profile.Name)
			}
			checkRendition(t, r, inVideo, inAudio)
		})
	}
	if res.Stats.CPU() <= 0 || res.Stats.Wall <= 0 || res.Stats.MaxRSSBytes <= 0 {
		t.Errorf("Stats = %+v, want CPU, wall time and RSS of the child", res.Stats)
	}
	if left := dirEntries(t, tmp); len(left) != 0 {
		t.Errorf("temp files left behind: %q", left)
	}
}

// checkRendition compares one rendition with the input's streams.
func checkRendition(t *testing.T, r Rendition, inVideo, inAudio *stream) {
	t.Helper()
	out := probe(t, r.Data)
	v, a := out.streamOf("video"), out.streamOf("audio")
	if v == nil || a == nil {
		t.Fatalf("streams %+v, want video and audio", out.Streams)
	}
	wantW, wantH := FitSize(r.Profile, testW, testH)
	if v.CodecName != "h264" || v.Width != wantW || v.Height != wantH || r.Width != wantW || r.Height != wantH {
		t.Errorf("video %s %dx%d (reported %dx%d), want h264 %dx%d", v.CodecName, v.Width, v.Height, r.Width, r.Height, wantW, wantH)
	}
	// Renditions line up in HLS only if they start where the input does.
	if d := math.Abs(seconds(t, v.StartTime) - seconds(t, inVideo.StartTime)); d > testFrameSecs {
		t.Errorf("video start %s, input %s: %.4fs apart, more than a frame", v.StartTime, inVideo.StartTime, d)
	}
	if d := math.Abs(seconds(t, v.Duration) - testSeconds); d > testFrameSecs {
		t.Errorf("video duration %ss, want %ds within a frame", v.Duration, testSeconds)
	}
	if a.CodecName != "aac" || a.SampleRate != "48000" || a.Channels != 2 {
		t.Errorf("audio %s %s Hz %d ch, want aac 48000 Hz 2 ch", a.CodecName, a.SampleRate, a.Channels)
	}
	// AAC's encoder delay (1024 samples, 21 ms) moves the first audio
	// packet slightly earlier; players trim it.
	if d := math.Abs(seconds(t, a.StartTime) - seconds(t, inAudio.StartTime)); d > testFrameSecs {
		t.Errorf("audio start %s, input %s: %.4fs apart", a.StartTime, inAudio.StartTime, d)
	}
	if d := math.Abs(seconds(t, a.Duration) - testSeconds); d > 0.05*testSeconds {
		t.Errorf("audio duration %ss, want %ds within 5%%", a.Duration, testSeconds)
	}
	if keys := keyframes(t, r.Data); !r.Profile.IsSource() && !slices.Equal(keys, []int{0}) {
		t.Errorf("keyframes at %v, want one at the first frame only (gop 0)", keys)
	}
}

func TestTranscodeKeyframeCadence(t *testing.T) {
	needFFmpeg(t)
	f, _ := newTestFFmpeg(t)
	input := readFile(t, makeInput(t, t.TempDir(), false))
	p := Profile{Name: "gop", Width: 320, Height: 180, Bitrate: 300_000, FPS: 30, GOP: 0.5}

	rends, err := f.Transcode(t.Context(), Job{Input: bytes.NewReader(input), Profiles: []Profile{p}, SourceWidth: testW, SourceHeight: testH})
	if err != nil {
		t.Fatal(err)
	}
	if keys := keyframes(t, rends[0].Data); !slices.Equal(keys, []int{0, 15, 30, 45}) {
		t.Fatalf("keyframes at %v, want every 15 frames (0.5 s at 30 fps)", keys)
	}
}

func TestTranscodeWithoutAudio(t *testing.T) {
	needFFmpeg(t)
	f, _ := newTestFFmpeg(t)
	input := readFile(t, makeInput(t, t.TempDir(), false))

	rends, err := f.Transcode(t.Context(), Job{Input: bytes.NewReader(input), Profiles: Ladder(DefaultLadder(), testW, testH), SourceWidth: testW, SourceHeight: testH})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(profilesOf(rends)); !slices.Equal(got, []string{"source", "480p", "360p"}) {
		t.Fatalf("renditions %q", got)
	}
	for _, r := range rends {
		out := probe(t, r.Data)
		if out.streamOf("video") == nil || out.streamOf("audio") != nil {
			t.Errorf("%s: streams %+v, want video only", r.Profile.Name, out.Streams)
		}
	}
}

func profilesOf(rends []Rendition) []Profile {
	var ps []Profile
	for _, r := range rends {
		ps = append(ps, r.Profile)
	}
	return ps
}

func TestTranscodeGarbageInputFailsWithStderr(t *testing.T) {
	needFFmpeg(t)
	f, tmp := newTestFFmpeg(t)
	garbage := bytes.Repeat([]byte("this is not an MPEG transport stream\n"), 2000)

	_, err := f.Transcode(t.Context(), Job{Seq: 9, Input: bytes.NewReader(garbage), Profiles: Ladder(DefaultLadder(), testW, testH), SourceWidth: testW, SourceHeight: testH})
	if !errors.Is(err, ErrFFmpeg) {
		t.Fatalf("err = %v, want ErrFFmpeg", err)
	}
	// The tail of ffmpeg's stderr says why; "seq 9" says which segment.
	for _, want := range []string{"seq 9", "exit status", "stderr:", "pipe:0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if left := dirEntries(t, tmp); len(left) != 0 {
		t.Errorf("temp files left behind: %q", left)
	}
}

func TestTranscodeInputErrorIsReported(t *testing.T) {
	needFFmpeg(t)
	f, _ := newTestFFmpeg(t)
	input := readFile(t, makeInput(t, t.TempDir(), false))
	broken := errors.New("segment aborted")
	// Half a segment then a read error: ffmpeg sees a clean EOF and may
	// well succeed, but the renditions would be cut short.
	in := io.MultiReader(bytes.NewReader(input[:len(input)/2]), iotestErrReader{broken})

	_, err := f.Transcode(t.Context(), Job{Input: in, Profiles: []Profile{SourceProfile()}, SourceWidth: testW, SourceHeight: testH})
	if !errors.Is(err, ErrInput) || !errors.Is(err, broken) {
		t.Fatalf("err = %v, want ErrInput wrapping the read error", err)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

func TestTranscodeCancelKillsFFmpeg(t *testing.T) {
	needFFmpeg(t)
	f, tmp := newTestFFmpeg(t)
	input := readFile(t, makeInput(t, t.TempDir(), true))
	stall := newStallingReader(input[:len(input)/2])

	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := f.Run(ctx, Job{Input: closingStall{stall}, Profiles: Ladder(DefaultLadder(), testW, testH), SourceWidth: testW, SourceHeight: testH})
		done <- result{res, err}
	}()
	<-stall.blocked
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second): // generous: the kill delay is 1 s
		t.Fatal("Run did not return after cancel")
	}
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", r.err)
	}
	if r.res.Stats.Wall <= 0 {
		t.Errorf("Stats = %+v: ffmpeg was never reaped", r.res.Stats)
	}
	if left := dirEntries(t, tmp); len(left) != 0 {
		t.Errorf("temp files left behind: %q", left)
	}
	// The job owned the input and closed it, which released the blocked
	// Read; Close returning proves the copier is gone (goleak checks too).
	f.Close()
}

func TestCloseWaitsForAStalledNonCloserInput(t *testing.T) {
	needFFmpeg(t)
	f, _ := newTestFFmpeg(t)
	input := readFile(t, makeInput(t, t.TempDir(), false))
	stall := newStallingReader(input[:len(input)/2])
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-stall.blocked; cancel() }()

	// A reader without Close: the job cannot release the blocked Read.
	_, err := f.Transcode(ctx, Job{Input: stall, Profiles: []Profile{SourceProfile()}, SourceWidth: testW, SourceHeight: testH})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	closed := make(chan struct{})
	go func() { f.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the input copier was still blocked in Read")
	case <-time.After(100 * time.Millisecond):
	}
	stall.Release(errors.New("producer gone")) // the Read returns; the copier exits
	<-closed
}

func TestCloseStopsRunningJobs(t *testing.T) {
	needFFmpeg(t)
	f, _ := newTestFFmpeg(t)
	input := readFile(t, makeInput(t, t.TempDir(), false))
	stall := newStallingReader(input[:len(input)/2])
	errc := make(chan error, 1)
	go func() {
		_, err := f.Transcode(t.Context(), Job{Input: closingStall{stall}, Profiles: []Profile{SourceProfile()}, SourceWidth: testW, SourceHeight: testH})
		errc <- err
	}()
	<-stall.blocked
	f.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if _, err := f.Transcode(t.Context(), Job{Input: bytes.NewReader(input), Profiles: []Profile{SourceProfile()}, SourceWidth: testW, SourceHeight: testH}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Transcode after Close = %v, want ErrClosed", err)
	}
	f.Close() // idempotent
}

func TestTranscodeRejectsInvalidJobs(t *testing.T) {
	needFFmpeg(t)
	f, _ := newTestFFmpeg(t)
	in := bytes.NewReader(nil)
	tests := []struct {
		name string
		job  Job
		want string
	}{
		{name: "no input", job: Job{Profiles: []Profile{SourceProfile()}, SourceWidth: 2, SourceHeight: 2}, want: "no input"},
		{name: "no profiles", job: Job{Input: in, SourceWidth: 2, SourceHeight: 2}, want: "no profiles"},
		{name: "unknown source size", job: Job{Input: in, Profiles: []Profile{SourceProfile()}}, want: "source size 0x0"},
		{name: "invalid profile", job: Job{Input: in, Profiles: []Profile{{Name: "x"}}, SourceWidth: 2, SourceHeight: 2}, want: `profile 0 ("x"): width 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Transcode(t.Context(), tt.job)
			if !errors.Is(err, ErrInvalidJob) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidJob containing %q", err, tt.want)
			}
		})
	}
}

func TestNewFFmpegConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     FFmpegConfig
		wantErr error
		want    string
	}{
		{name: "a missing binary says how to install it", cfg: FFmpegConfig{Path: "/nonexistent/ffmpeg"},
			wantErr: ErrFFmpegNotFound, want: "apt-get install ffmpeg"},
		{name: "unknown encoders are rejected", cfg: FFmpegConfig{Encoder: "x265"}, wantErr: ErrInvalidConfig, want: `encoder "x265"`},
		{name: "negative threads are rejected", cfg: FFmpegConfig{Threads: -1}, wantErr: ErrInvalidConfig, want: "threads -1"},
		{name: "a missing temp dir is rejected", cfg: FFmpegConfig{TempDir: "/nonexistent/dir"}, wantErr: ErrInvalidConfig, want: "/nonexistent/dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewFFmpeg(tt.cfg)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewFFmpeg = %v, want %v containing %q", err, tt.wantErr, tt.want)
			}
		})
	}
}

// TestNVENCArgumentsParse runs the NVENC command lines through the real
// ffmpeg. Without an NVIDIA GPU they fail when opening CUDA, which is fine;
// what must not happen is ffmpeg rejecting the options themselves.
func TestNVENCArgumentsParse(t *testing.T) {
	needFFmpeg(t)
	input := makeInput(t, t.TempDir(), true)
	for _, opts := range []EncodeOptions{{Encoder: EncoderNVENC}, {Encoder: EncoderNVENC, HWDecode: true}} {
		job := Job{Profiles: Ladder(DefaultLadder(), testW, testH), SourceWidth: testW, SourceHeight: testH}
		cmd := exec.Command("ffmpeg", opts.Args(job)...)
		cmd.Dir = t.TempDir()
		cmd.Stdin = bytesReader(t, input)
		out, err := cmd.CombinedOutput()
		if err == nil {
			continue // a GPU is present and it worked
		}
		for _, bad := range []string{"Unrecognized option", "Option not found", "No such filter", "Error parsing"} {
			if strings.Contains(string(out), bad) {
				t.Errorf("HWDecode=%v: ffmpeg rejected the arguments:\n%s", opts.HWDecode, out)
			}
		}
	}
}

func bytesReader(t *testing.T, path string) io.Reader {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(data)
}
