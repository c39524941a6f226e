package netpool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/clock"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// Errors returned by the package; callers test them with errors.Is.
var (
	// ErrAllFailed is returned when every attempt at a segment failed, or no
	// orchestrator was eligible to make one. The error text names each
	// orchestrator's reason.
	ErrAllFailed = errors.New("every orchestrator failed the segment")
	// ErrInvalidConfig means a Config failed validation.
	ErrInvalidConfig = errors.New("netpool: invalid config")
	// ErrClosed means the pool was closed.
	ErrClosed = fmt.Errorf("netpool: %w", transcode.ErrClosed)
	// ErrTimeout means an orchestrator did not answer within AttemptTimeout.
	ErrTimeout = errors.New("orchestrator timed out")
	// ErrAbandoned means an attempt was given up because its orchestrator
	// had just failed another segment of the same stream.
	ErrAbandoned = errors.New("abandoned: the orchestrator failed another segment of this stream")
	// ErrBadOutput means an orchestrator answered with renditions that are
	// not what was asked: missing, wrongly sized, undecodable, or not
	// covering the source's time span.
	ErrBadOutput = errors.New("bad output")
	// ErrIneligible means an orchestrator was not tried: its info rules it
	// out (protocol, codecs, price).
	ErrIneligible = errors.New("not eligible")
	// ErrBadInfo means an orchestrator's /api/info answer could not be used.
	ErrBadInfo = errors.New("bad orchestrator info")
	// ErrBadWebhook means the discovery webhook's answer could not be used.
	ErrBadWebhook = errors.New("bad webhook answer")
)

// Defaults for Config's zero values.
const (
	DefaultAttempts        = 3
	DefaultSuspend         = 30 * time.Second
	DefaultSegmentDuration = 2 * time.Second
	DefaultRefresh         = 10 * time.Second
	DefaultWebhookRefresh  = 60 * time.Second
	DefaultProbeTimeout    = 2 * time.Second
	DefaultStreamTTL       = 10 * time.Minute
)

// Config configures a Pool.
type Config struct {
	// URLs are orchestrators known statically, as base URLs
	// ("http://host:port"); they are never dropped.
	URLs []string
	// Webhook, when set, is a URL whose GET answers the orchestrators to use
	// as [{"address":"http://host:port"}, ...]. It is read at start and then
	// every WebhookRefresh (default 60 s); a failing webhook keeps the last
	// good list. At least one of URLs and Webhook is required.
	Webhook        string
	WebhookRefresh time.Duration
	// Refresh is how often every orchestrator's GET /api/info is probed
	// (default 10 s); ProbeTimeout bounds one probe (default 2 s).
	Refresh      time.Duration
	ProbeTimeout time.Duration
	// MaxPrice is the highest price per pixel, in wei, an orchestrator may
	// ask; nil means no limit.
	MaxPrice *big.Int
	// SegmentDuration is the target segment length (default 2 s); latency
	// scores are measured in segments.
	SegmentDuration time.Duration
	// Attempts is how many orchestrators one segment may try (default 3).
	Attempts int
	// AttemptTimeout bounds one attempt from the end of its segment
	// (Job.InputDone; from the start without it), default SegmentDuration
	// + 1 s, several times a healthy node's turnaround after the end:
	// a hung orchestrator is abandoned in time for the next to finish the
	// segment.
	AttemptTimeout time.Duration
	// LastResortTimeout replaces AttemptTimeout for the last orchestrator
	// a segment can go to (the only one, say): with no one to hand the
	// segment to, waiting longer beats giving up. Default 3 ×
	// AttemptTimeout.
	LastResortTimeout time.Duration
	// WholeUpload sends each segment only once it is complete, instead of
	// streaming it as it is cut; it exists to measure what streaming saves.
	WholeUpload bool
	// Suspend is how long an orchestrator that failed a stream's segment is
	// ranked last for that stream (default 30 s).
	Suspend time.Duration
	// StreamTTL is how long a stream's state outlives its last segment
	// (default 10 minutes).
	StreamTTL time.Duration
	// Sealer, when set, returns the sealer for an orchestrator's URL: it
	// pays, signs segments and checks receipts (internal/trust).
	Sealer func(url string) remote.Sealer
	Logger *slog.Logger
	// Clock drives the pool's policy times (nil: the wall clock): the
	// Suspend windows, the waits between busy rounds, StreamTTL, the
	// latencies that score nodes, probe times and what Snapshot reports,
	// the Refresh and WebhookRefresh periods, and the attempt deadlines
	// (AttemptTimeout, LastResortTimeout) counted from a segment's end.
	// ProbeTimeout and the webhook's own timeout bound real HTTP requests
	// and stay on the wall clock.
	Clock clock.Clock
}

func (c *Config) setDefaults() error {
	if len(c.URLs) == 0 && c.Webhook == "" {
		return fmt.Errorf("%w: no orchestrators: give URLs or a Webhook", ErrInvalidConfig)
	}
	if c.MaxPrice != nil && c.MaxPrice.Sign() < 0 {
		return fmt.Errorf("%w: negative MaxPrice %s", ErrInvalidConfig, c.MaxPrice)
	}
	if c.Webhook != "" {
		if _, err := parseAddress(c.Webhook); err != nil {
			return fmt.Errorf("%w: Webhook: %v", ErrInvalidConfig, err)
		}
	}
	setDefault(&c.WebhookRefresh, DefaultWebhookRefresh)
	setDefault(&c.Refresh, DefaultRefresh)
	setDefault(&c.ProbeTimeout, DefaultProbeTimeout)
	setDefault(&c.SegmentDuration, DefaultSegmentDuration)
	setDefault(&c.AttemptTimeout, c.SegmentDuration+time.Second)
	setDefault(&c.LastResortTimeout, 3*c.AttemptTimeout)
	setDefault(&c.Suspend, DefaultSuspend)
	setDefault(&c.StreamTTL, DefaultStreamTTL)
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Clock = clock.Or(c.Clock)
	return nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Pool sends segments to orchestrators with per-stream stickiness and
// failover. It is safe for concurrent use; several segments of one stream
// may be in flight at once.
type Pool struct {
	cfg       Config
	log       *slog.Logger
	clock     clock.Clock
	transport *http.Transport
	http      *http.Client

	ctx        context.Context // cancelled by Close
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	firstProbe chan struct{} // closed after the first discovery and probe round
	closeOnce  sync.Once
	inflight   sync.WaitGroup // Transcode calls; Add only under mu while !closed

	mu         sync.Mutex
	closed     bool
	nodes      []*node // discovery order: static first, then webhook
	byURL      map[string]*node
	streams    map[string]*streamState
	lastPrune  time.Time
	webhookErr string // the webhook's current failure; "" while it answers
	// webhookSkipped is the last answer's skipped entries, to log changes.
	webhookSkipped string
}

var _ transcode.Transcoder = (*Pool)(nil)

// New builds a Pool and starts its discovery: the webhook is read and every
// orchestrator probed in the background, so New returns at once. Close stops
// it.
func New(cfg Config) (*Pool, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if def, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = def.Clone()
	}
	// Several segments go to one orchestrator at once; keep their
	// connections rather than redial each time.
	tr.MaxIdleConnsPerHost = 16
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, transport: tr, http: &http.Client{Transport: tr},
		ctx: ctx, cancel: cancel, firstProbe: make(chan struct{}),
		byURL: map[string]*node{}, streams: map[string]*streamState{}}
	for _, raw := range cfg.URLs {
		u, err := parseAddress(raw)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("%w: URLs: %v", ErrInvalidConfig, err)
		}
		if p.byURL[u] == nil {
			p.addNode(u, originStatic)
		}
	}
	p.wg.Go(p.run)
	return p, nil
}

// Close stops discovery and probing, cancels segments in flight, and
// returns once every goroutine the pool started and every Transcode call
// has ended. It is idempotent; Transcode fails with ErrClosed afterwards.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.cancel()
		p.wg.Wait()
		p.inflight.Wait()
		p.transport.CloseIdleConnections()
	})
	return nil
}

// enter counts a Transcode call in, unless the pool is closed.
func (p *Pool) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.inflight.Add(1)
	return true
}

// run reads the webhook and probes every orchestrator at start, then
// repeats each on its own period until Close.
func (p *Pool) run() {
	if p.cfg.Webhook != "" {
		p.refreshWebhook(p.ctx) // its new nodes are probed just below
	}
	p.probeAll(p.ctx, p.nodeList())
	close(p.firstProbe)
	probe := p.clock.NewTicker(p.cfg.Refresh)
	defer probe.Stop()
	var hookC <-chan time.Time
	if p.cfg.Webhook != "" {
		hook := p.clock.NewTicker(p.cfg.WebhookRefresh)
		defer hook.Stop()
		hookC = hook.C()
	}
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-probe.C():
			p.probeAll(p.ctx, p.nodeList())
		case <-hookC:
			p.probeAll(p.ctx, p.refreshWebhook(p.ctx))
		}
	}
}

// nodeList returns the known orchestrators in discovery order.
func (p *Pool) nodeList() []*node {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*node(nil), p.nodes...)
}
