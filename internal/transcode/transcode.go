// Package transcode turns one MPEG-TS segment into an adaptive ladder of
// renditions with a single ffmpeg process per segment.
//
// It is deliberately ignorant of where segments come from (WHIP, RTMP) and of
// where renditions go (HLS, WHEP): segment bytes in, rendition bytes out. That
// keeps it movable to a remote transcoder node later without change.
//
// The pieces, from pure to impure:
//   - Profile, DefaultLadder, ParseProfiles, Ladder and FitSize decide what to
//     produce;
//   - BuildArgs turns a Job into one ffmpeg argument list;
//   - FFmpeg runs that argument list under supervision.
package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors returned by the package; callers test them with errors.Is.
var (
	// ErrFFmpeg means ffmpeg ran but failed, or produced an unusable
	// rendition. The error text carries the last lines of ffmpeg's stderr.
	ErrFFmpeg = errors.New("transcode: ffmpeg failed")
	// ErrFFmpegNotFound means the ffmpeg binary could not be found.
	ErrFFmpegNotFound = errors.New("transcode: ffmpeg not found (install it with `apt-get install ffmpeg`)")
	// ErrInvalidProfile means a profile or profile list failed validation.
	ErrInvalidProfile = errors.New("transcode: invalid profile")
	// ErrInvalidJob means a Job cannot be transcoded as given.
	ErrInvalidJob = errors.New("transcode: invalid job")
	// ErrInvalidConfig means an FFmpegConfig failed validation.
	ErrInvalidConfig = errors.New("transcode: invalid config")
	// ErrInput means reading the job's input failed, so the renditions
	// would have been cut short.
	ErrInput = errors.New("transcode: reading input")
	// ErrClosed means the transcoder was closed.
	ErrClosed = errors.New("transcode: closed")
)

// Transcoder turns one segment into its renditions. Implementations must be
// safe for concurrent use.
type Transcoder interface {
	Transcode(ctx context.Context, job Job) ([]Rendition, error)
}

// Func adapts a function to Transcoder.
type Func func(ctx context.Context, job Job) ([]Rendition, error)

// Transcode calls f.
func (f Func) Transcode(ctx context.Context, job Job) ([]Rendition, error) { return f(ctx, job) }

// Job is one segment to transcode.
type Job struct {
	// Stream names the stream the segment belongs to. It labels logs, and a
	// transcoder that spreads work over nodes keeps a stream on one node.
	Stream string
	// Seq is the segment's sequence number; it only labels logs and errors.
	Seq uint64
	// Input is the segment as MPEG-TS. It may still be growing: it is
	// streamed into ffmpeg as it arrives, and EOF ends the segment. If Input
	// is also an io.Closer, the job owns it and closes it when it ends, which
	// is how a Read blocked on a stalled producer is released.
	Input io.Reader
	// InputDone, when set, is closed once Input has all its bytes (the
	// segment is cut). Deadlines meant for the work after the segment's end
	// start there, so a publisher that stalls mid-segment is not blamed on
	// the transcoder.
	InputDone <-chan struct{}
	// Reopen, when set, returns a new reader over the same segment from its
	// first byte (it may still be growing). A transcoder that fails over to
	// another node reads the segment again through it.
	Reopen func() io.Reader
	// Duration, when set, tells the segment's duration once InputDone is
	// closed (a signed segment record names it).
	Duration func() time.Duration
	// Profiles are the renditions to produce, in order, usually from Ladder.
	Profiles []Profile
	// SourceWidth and SourceHeight are the input's coded size; they decide
	// each rendition's exact output size (see FitSize).
	SourceWidth, SourceHeight int
	// Payer is who the segment is billed to: the publishing session's, as
	// its admission committed it (nil: nobody). Transcoding only carries
	// it, so the node that pays and bills (internal/trust's sealer) charges
	// the session that made the segment, whoever has published under the
	// stream's name since.
	Payer fmt.Stringer
	// Partial, when set, receives each rendition's bytes as the transcoder
	// writes them, before the job completes: live playback cuts them into
	// LL-HLS parts while the segment is still being made. offset is where
	// chunk starts in the rendition; it goes back to 0 when the work starts
	// over elsewhere (a failover), and the bytes before are then void.
	// Calls come in order, from one goroutine at a time; the chunks are the
	// receiver's to keep. They are a preview: only the renditions Transcode
	// returns are checked and vouched for. A transcoder that cannot stream
	// (or a job that fails) may send none or some.
	Partial func(rendition string, offset int64, chunk []byte)
}

// Rendition is one transcoded output: a complete MPEG-TS segment whose
// timestamps equal the input's.
type Rendition struct {
	Profile       Profile
	Width, Height int
	Data          []byte
	// Proof is the signed record that vouches for the rendition set, when
	// the node that made it signs (internal/trust): a transcoder's result
	// at its orchestrator, an orchestrator's receipt at the broadcaster.
	Proof string
}

// Stats is what one ffmpeg run cost.
type Stats struct {
	// UserTime and SystemTime are the CPU time used by the ffmpeg child,
	// from its rusage.
	UserTime, SystemTime time.Duration
	// Wall is the time from starting ffmpeg to its exit.
	Wall time.Duration
	// MaxRSSBytes is the child's peak resident set size.
	MaxRSSBytes int64
}

// CPU returns the child's total CPU time, user plus system.
func (s Stats) CPU() time.Duration { return s.UserTime + s.SystemTime }

// Result is a transcoded job together with what it cost.
type Result struct {
	Renditions []Rendition
	Stats      Stats
}
