// Package netpool is the broadcaster's view of the orchestrators it can
// use: it sends each segment to the best one, and when that one fails,
// times out or answers with bad output, sends the segment to the next and
// suspends the failed one for a while. To the pipeline it is just a
// transcode.Transcoder.
package netpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// ErrAllFailed is returned when every attempt at a segment failed.
var ErrAllFailed = errors.New("every orchestrator failed the segment")

// Config configures a Pool.
type Config struct {
	URLs []string
	// Attempts is how many orchestrators one segment may try (default 3).
	Attempts int
	// AttemptTimeout bounds one attempt (default 10 s): a hung orchestrator
	// is abandoned in time for the next to finish the segment.
	AttemptTimeout time.Duration
	// Suspend is how long a failed orchestrator is tried last (default 30 s).
	Suspend time.Duration
	Logger  *slog.Logger
}

type node struct {
	url       string
	client    *remote.Client
	suspended time.Time // tried last until then
	score     float64   // smoothed turnaround in seconds; lower is better
	ok, fail  uint64
}

// Pool sends segments to orchestrators with failover.
type Pool struct {
	cfg   Config
	log   *slog.Logger
	mu    sync.Mutex
	nodes []*node
}

// New builds a Pool over cfg.URLs.
func New(cfg Config) (*Pool, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("netpool: no orchestrators")
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 10 * time.Second
	}
	if cfg.Suspend <= 0 {
		cfg.Suspend = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{cfg: cfg, log: cfg.Logger}
	for _, u := range cfg.URLs {
		p.nodes = append(p.nodes, &node{url: u, client: &remote.Client{URL: u}})
	}
	return p, nil
}

// order ranks the nodes: not suspended first, then by turnaround score.
func (p *Pool) order(now time.Time) []*node {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := append([]*node(nil), p.nodes...)
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := now.Before(out[i].suspended), now.Before(out[j].suspended)
		if si != sj {
			return !si
		}
		return out[i].score < out[j].score
	})
	return out
}

// Transcode tries the best orchestrators in turn. Only the first attempt
// streams the live input; later ones re-read the segment through Reopen.
func (p *Pool) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	var errs []error
	for i, n := range p.order(time.Now()) {
		if i >= p.cfg.Attempts || (i > 0 && job.Reopen == nil) {
			break
		}
		attempt := job
		if i > 0 {
			attempt.Input = job.Reopen()
		}
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, p.cfg.AttemptTimeout)
		rends, err := n.client.Transcode(actx, attempt)
		cancel()
		if err == nil {
			err = check(job, rends)
		}
		if err == nil {
			p.record(n, time.Since(start), nil)
			return rends, nil
		}
		p.record(n, 0, err)
		p.log.Warn("orchestrator failed a segment; trying the next", "orchestrator", n.url, "seq", job.Seq, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", n.url, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrAllFailed, errors.Join(errs...))
}

// check rejects output of the wrong size: an orchestrator must make what
// was asked.
func check(job transcode.Job, rends []transcode.Rendition) error {
	for _, r := range rends {
		w, h := transcode.FitSize(r.Profile, job.SourceWidth, job.SourceHeight)
		if r.Profile.IsSource() {
			w, h = job.SourceWidth, job.SourceHeight
		}
		if r.Width != w || r.Height != h || len(r.Data) == 0 {
			return fmt.Errorf("rendition %s is %dx%d (%d bytes), want %dx%d", r.Profile.Name, r.Width, r.Height, len(r.Data), w, h)
		}
	}
	return nil
}

func (p *Pool) record(n *node, took time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		n.fail++
		n.suspended = time.Now().Add(p.cfg.Suspend)
		return
	}
	n.ok++
	if n.score == 0 {
		n.score = took.Seconds()
	} else {
		n.score = 0.8*n.score + 0.2*took.Seconds()
	}
}
