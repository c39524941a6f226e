package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// DefaultKillDelay is how long ffmpeg gets between SIGTERM and SIGKILL.
const DefaultKillDelay = time.Second

// FFmpegConfig configures an FFmpeg.
type FFmpegConfig struct {
	// Path is the ffmpeg binary, resolved with exec.LookPath; default
	// "ffmpeg".
	Path string
	// TempDir is where per-job working directories are made; default
	// os.TempDir(). It must exist.
	TempDir string
	// Logger receives job and stderr lines at debug level; nil discards.
	Logger *slog.Logger
	// Encoder is EncoderX264 (default, "") or EncoderNVENC.
	Encoder string
	// GPU is the NVENC device index.
	GPU int
	// HWDecode decodes and scales on the GPU too (NVENC only).
	HWDecode bool
	// Threads caps ffmpeg's threads per job; 0 lets ffmpeg choose.
	Threads int
	// KillDelay is the grace between SIGTERM and SIGKILL on cancellation;
	// default DefaultKillDelay.
	KillDelay time.Duration
}

// FFmpeg is a Transcoder that runs one supervised ffmpeg process per job.
// It is safe for concurrent use.
type FFmpeg struct {
	path      string
	tempDir   string
	log       *slog.Logger
	opts      EncodeOptions
	killDelay time.Duration

	ctx    context.Context // cancelled by Close; ends in-flight jobs
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // jobs and their stdin copiers
}

var _ Transcoder = (*FFmpeg)(nil)

// NewFFmpeg validates cfg and finds the ffmpeg binary.
func NewFFmpeg(cfg FFmpegConfig) (*FFmpeg, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	path, err := exec.LookPath(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrFFmpegNotFound, cfg.Path, err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &FFmpeg{
		path:      path,
		tempDir:   cfg.TempDir,
		log:       cfg.Logger,
		opts:      EncodeOptions{Encoder: cfg.Encoder, GPU: cfg.GPU, HWDecode: cfg.HWDecode, Threads: cfg.Threads},
		killDelay: cfg.KillDelay,
		ctx:       ctx,
		cancel:    cancel,
	}, nil
}

func (c *FFmpegConfig) setDefaults() error {
	if c.Path == "" {
		c.Path = "ffmpeg"
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Encoder == "" {
		c.Encoder = EncoderX264
	}
	if c.KillDelay == 0 {
		c.KillDelay = DefaultKillDelay
	}
	var errs []error
	if c.Encoder != EncoderX264 && c.Encoder != EncoderNVENC {
		errs = append(errs, fmt.Errorf("encoder %q is not %q or %q", c.Encoder, EncoderX264, EncoderNVENC))
	}
	if c.GPU < 0 || c.Threads < 0 || c.KillDelay < 0 {
		errs = append(errs, fmt.Errorf("gpu %d, threads %d and kill delay %v must not be negative", c.GPU, c.Threads, c.KillDelay))
	}
	if fi, err := os.Stat(c.TempDir); err != nil || !fi.IsDir() {
		errs = append(errs, fmt.Errorf("temp dir %q is not a usable directory", c.TempDir))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Args returns the ffmpeg arguments this FFmpeg would run for job (with
// the configured encoder), for logs and for benchmarks that run them by hand.
func (f *FFmpeg) Args(job Job) []string { return f.opts.Args(job) }

// Path returns the resolved ffmpeg binary.
func (f *FFmpeg) Path() string { return f.path }

// Transcode runs job and returns its renditions in job.Profiles order.
func (f *FFmpeg) Transcode(ctx context.Context, job Job) ([]Rendition, error) {
	res, err := f.Run(ctx, job)
	return res.Renditions, err
}

// Run is Transcode that also reports what the ffmpeg child cost. Stats are
// filled whenever ffmpeg ran, even if the job failed.
//
// Cancelling ctx (or closing f) sends SIGTERM to ffmpeg's process group and
// SIGKILL after the kill delay; the error then wraps the context's cause.
// The per-job directory is always removed.
func (f *FFmpeg) Run(ctx context.Context, job Job) (Result, error) {
	defer closeInput(job.Input) // the job owns its input, whatever happens below
	if err := job.Validate(); err != nil {
		return Result{}, err
	}
	if !f.begin() {
		return Result{}, ErrClosed
	}
	defer f.wg.Done()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(f.ctx, func() { cancel(ErrClosed) })
	defer stop()

	dir, err := os.MkdirTemp(f.tempDir, fmt.Sprintf("castnet-transcode-%d-*", job.Seq))
	if err != nil {
		return Result{}, fmt.Errorf("transcode seq %d: %w", job.Seq, err)
	}
	defer f.removeDir(dir)

	log := f.log.With("seq", job.Seq)
	log.Debug("ffmpeg start", "renditions", len(job.Profiles), "encoder", f.opts.Encoder)
	p := f.process(ctx, dir, job, log)
	fo := follow(job, dir)
	err = p.run()
	fo.finish()
	if err != nil {
		log.Debug("ffmpeg failed", "wall", p.stats.Wall, "err", err)
		return Result{Stats: p.stats}, err
	}
	rends, err := readRenditions(dir, job, p.tail)
	log.Debug("ffmpeg done", "cpu", p.stats.CPU(), "wall", p.stats.Wall, "err", err)
	return Result{Renditions: rends, Stats: p.stats}, err
}

// begin registers a job unless f is closed; Add happens under the lock so
// it can never race Close's Wait.
func (f *FFmpeg) begin() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.wg.Add(1)
	return true
}

// Close stops in-flight jobs and waits for them and their input copiers.
// It is idempotent. A copier blocked in Read of an Input that is not an
// io.Closer is waited for until that Read returns.
func (f *FFmpeg) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel(ErrClosed)
	f.wg.Wait()
	return nil
}

func (f *FFmpeg) removeDir(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		f.log.Warn("removing transcode dir", "dir", dir, "err", err)
	}
}

func closeInput(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close() // the job owns the input; a second close is harmless
	}
}

// readRenditions reads every output fully; an empty one means ffmpeg
// silently produced nothing (say, an input without the mapped stream).
func readRenditions(dir string, job Job, tail *lineRing) ([]Rendition, error) {
	out := make([]Rendition, 0, len(job.Profiles))
	for i, p := range job.Profiles {
		data, err := os.ReadFile(filepath.Join(dir, OutputName(i)))
		if err == nil && len(data) == 0 {
			err = errors.New("empty output")
		}
		if err != nil {
			return nil, fmt.Errorf("%w: seq %d: rendition %q: %w; stderr: %s", ErrFFmpeg, job.Seq, p.Name, err, tailText(tail))
		}
		w, h := FitSize(p, job.SourceWidth, job.SourceHeight)
		out = append(out, Rendition{Profile: p, Width: w, Height: h, Data: data})
	}
	return out, nil
}

func tailText(r *lineRing) string {
	if s := r.String(); s != "" {
		return s
	}
	return "(nothing)"
}
