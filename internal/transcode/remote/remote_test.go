package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/httpx"

	"github.com/castnet/castnet/internal/transcode"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// transcoderFunc adapts a function to transcode.Transcoder.
type transcoderFunc = transcode.Func

var ladder = []transcode.Profile{transcode.SourceProfile(), {Name: "120p", Width: 160, Height: 120, Bitrate: 100_000, FPS: 30}}

func serve(t *testing.T, tr transcode.Transcoder, cfg HandlerConfig) (*Handler, *Client) {
	t.Helper()
	cfg.Transcoder = tr
	h := NewHandler(cfg)
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return h, &Client{URL: srv.URL, HTTP: srv.Client()}
}

// TestSegmentStreamsWhileItIsCut: the node starts on the segment before the
// sender has finished cutting it, and the renditions come back intact.
func TestSegmentStreamsWhileItIsCut(t *testing.T) {
	firstBytes := make(chan struct{})
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		buf := make([]byte, 4)
		if _, err := io.ReadFull(job.Input, buf); err != nil {
			return nil, err
		}
		close(firstBytes)
		rest, err := io.ReadAll(job.Input)
		if err != nil {
			return nil, err
		}
		in := append(buf, rest...)
		return []transcode.Rendition{
			{Profile: job.Profiles[0], Width: job.SourceWidth, Height: job.SourceHeight, Data: in},
			{Profile: job.Profiles[1], Width: 160, Height: 90, Data: []byte(strings.ToUpper(string(in)))},
		}, nil
	})
	_, c := serve(t, tr, HandlerConfig{})
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("head"))
		select {
		case <-firstBytes: // the node is working while the segment is open
		case <-time.After(10 * time.Second):
		}
		_, _ = pw.Write([]byte(" and tail"))
		_ = pw.Close()
	}()
	rends, err := c.Transcode(context.Background(), transcode.Job{Seq: 7, Input: pr, Profiles: ladder,
		SourceWidth: 640, SourceHeight: 360})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-firstBytes:
	default:
		t.Fatal("the node never saw bytes before the segment was complete")
	}
	if len(rends) != 2 || string(rends[0].Data) != "head and tail" || string(rends[1].Data) != "HEAD AND TAIL" ||
		rends[1].Width != 160 || rends[1].Height != 90 || rends[1].Profile.Name != "120p" {
		t.Fatalf("renditions %+v", rends)
	}
}

func TestRefusals(t *testing.T) {
	block := make(chan struct{})
	tr := transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
		if job.Seq == 99 {
			<-block
		}
		if _, err := io.Copy(io.Discard, job.Input); err != nil {
			return nil, err // as transcode.FFmpeg does, wrapping the reader's error
		}
		return nil, errors.New("ffmpeg: Invalid data found when processing input")
	})
	h, c := serve(t, tr, HandlerConfig{Capacity: 1, MaxSegmentBytes: 1000})
	job := func(seq uint64, body string, ps []transcode.Profile) transcode.Job {
		return transcode.Job{Seq: seq, Input: strings.NewReader(body), Profiles: ps, SourceWidth: 640, SourceHeight: 360}
	}
	status := func(err error) int {
		var se *StatusError
		if errors.As(err, &se) {
			return se.Code
		}
		t.Fatalf("not a status error: %v", err)
		return 0
	}
	if _, err := c.Transcode(context.Background(), job(1, "garbage", ladder)); status(err) != 422 {
		t.Errorf("undecodable media: %v", err)
	}
	if _, err := c.Transcode(context.Background(), job(1, strings.Repeat("x", 2000), ladder)); status(err) != 413 {
		t.Errorf("oversized segment: %v", err)
	}
	bad := []transcode.Profile{{Name: "../x", Width: 3, Height: 3}}
	if _, err := c.Transcode(context.Background(), job(1, "x", bad)); status(err) != 400 {
		t.Errorf("unknown profile: %v", err)
	}
	badStream := job(1, "x", ladder)
	badStream.Stream = "../../etc"
	if _, err := c.Transcode(context.Background(), badStream); status(err) != 400 {
		t.Errorf("stream label with a path in it: %v", err)
	}
	done := make(chan struct{})
	go func() { _, _ = c.Transcode(context.Background(), job(99, "x", ladder)); close(done) }()
	for h.Free() != 0 {
		time.Sleep(5 * time.Millisecond)
	}
	_, err := c.Transcode(context.Background(), job(2, "x", ladder))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 || se.RetryAfter == "" {
		t.Errorf("no free slot: %v", err)
	}
	close(block)
	<-done
	if h.Free() != 1 {
		t.Errorf("slot not released: %d free", h.Free())
	}
}

// TestTamperedAnswerIsRejected: a rendition whose bytes do not match the
// hash the node declared is refused, as is one nobody asked for.
func TestTamperedAnswerIsRejected(t *testing.T) {
	tests := map[string]func(mw *multipart.Writer){
		"hash mismatch": func(mw *multipart.Writer) {
			part(mw, "source", "640x360", digest([]byte("good")), "evil")
			part(mw, "120p", "160x90", digest([]byte("x")), "x")
		},
		"unrequested rendition": func(mw *multipart.Writer) {
			part(mw, "source", "640x360", digest([]byte("a")), "a")
			part(mw, "4k", "3840x2160", digest([]byte("b")), "b")
		},
		"missing rendition": func(mw *multipart.Writer) {
			part(mw, "source", "640x360", digest([]byte("a")), "a")
		},
	}
	for name, write := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				mw := multipart.NewWriter(w)
				w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
				write(mw)
				_ = mw.Close()
			}))
			defer srv.Close()
			c := &Client{URL: srv.URL, HTTP: srv.Client()}
			_, err := c.Transcode(context.Background(), transcode.Job{Input: strings.NewReader("x"), Profiles: ladder,
				SourceWidth: 640, SourceHeight: 360})
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("err %v, want ErrBadAnswer", err)
			}
		})
	}
}

func part(mw *multipart.Writer, name, size, hash, body string) {
	h := textproto.MIMEHeader{}
	h.Set(HeaderRendition, name)
	h.Set(HeaderSize, size)
	h.Set(HeaderHash, hash)
	pw, _ := mw.CreatePart(h)
	_, _ = pw.Write([]byte(body))
}

// TestRealFFmpegAcrossHTTP: a real 320x240 segment through a node running
// the real ffmpeg ladder.
func TestRealFFmpegAcrossHTTP(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	in := filepath.Join(t.TempDir(), "in.ts")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "1", "-c:v", "libx264", "-bf", "0",
		"-c:a", "libopus", "-f", "mpegts", in).CombinedOutput()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	_, c := serve(t, ff, HandlerConfig{})
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rends, err := c.Transcode(context.Background(), transcode.Job{Seq: 3, Input: f,
		Profiles: transcode.Ladder(ladder[1:], 320, 240), SourceWidth: 320, SourceHeight: 240})
	if err != nil {
		t.Fatal(err)
	}
	if len(rends) != 2 || rends[1].Width != 160 || rends[1].Height != 120 || len(rends[1].Data) == 0 || rends[1].Data[0] != 0x47 {
		t.Fatalf("renditions: %d, %+v", len(rends), rends[len(rends)-1].Profile)
	}
}

// TestTranscoderErrorsKeepTheirStatus: a transcoder behind the handler that
// has no capacity (a remote orchestrator with no free transcoder) answers
// 503 with Retry-After, so the broadcaster goes elsewhere; anything it does
// not classify is blamed on the media (422).
func TestTranscoderErrorsKeepTheirStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{httpx.WithRetryAfter(ErrBusy, time.Second), http.StatusServiceUnavailable},
		{fmt.Errorf("lost: %w", httpx.ErrUnavailable), http.StatusServiceUnavailable},
		{errors.New("ffmpeg exploded"), http.StatusUnprocessableEntity},
	} {
		_, c := serve(t, transcoderFunc(func(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
			_, _ = io.Copy(io.Discard, job.Input)
			return nil, tc.err
		}), HandlerConfig{})
		_, err := c.Transcode(context.Background(), transcode.Job{Seq: 1, Input: strings.NewReader("x"),
			Profiles: ladder, SourceWidth: 640, SourceHeight: 360})
		var se *StatusError
		if !errors.As(err, &se) || se.Code != tc.want {
			t.Errorf("%v: got %v, want %d", tc.err, err, tc.want)
		}
		if tc.want == http.StatusServiceUnavailable && se != nil && se.RetryAfter == "" && errors.Is(tc.err, ErrBusy) {
			t.Errorf("%v: no Retry-After", tc.err)
		}
	}
}
