package latency

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/broadcaster"
	"github.com/castnet/castnet/internal/publish"
)

// streamInfo is the node's stream API answer.
type streamInfo = broadcaster.StreamInfo

const stateEnded = broadcaster.StateEnded

// GoLive is one go-live measurement.
type GoLive struct {
	Stream string `json:"stream"`
	// PlayableMS is from the WHIP offer about to be sent to the first
	// segment fetched in every rendition (the slowest rendition's figure).
	PlayableMS float64 `json:"offer_to_playable_ms"`
	// RenditionMS is the same per rendition.
	RenditionMS map[string]float64 `json:"rendition_ms"`
	// NodeMS is the node's own first_segment_latency: first keyframe
	// received to the first segment in every rendition's playlist.
	NodeMS float64 `json:"node_first_segment_ms"`
}

// goLives publishes into a new stream plan.goLives times in turn.
func (r *run) goLives(ctx context.Context) error {
	for i := range r.plan.goLives {
		g, err := r.goLive(ctx, fmt.Sprintf("golive-%d", i+1))
		if err != nil {
			return err
		}
		r.data.GoLive = append(r.data.GoLive, g)
		r.env.Say("latency: go-live %d/%d: offer → playable in every rendition %.0f ms (node: keyframe → playlists %.0f ms)",
			i+1, r.plan.goLives, g.PlayableMS, g.NodeMS)
	}
	return nil
}

// goLive times one publisher from the click (the offer about to be sent)
// until every rendition plays, then stops it and waits for the stream to
// end.
func (r *run) goLive(ctx context.Context, stream string) (GoLive, error) {
	pctx, cancel := context.WithTimeout(ctx, goLiveTimeout)
	defer cancel()
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := publish.Publish(pctx, r.publishConfig(stream, 0), r.media)
		if err != nil {
			cancel() // the poller has nothing to wait for
		}
		errc <- err
	}()
	ready, err := r.probe.firstPlayable(pctx, stream, r.want, start)
	cancel()
	if err = errors.Join(err, <-errc); err != nil {
		return GoLive{}, err
	}
	in, err := r.waitEnded(ctx, stream)
	if err != nil {
		return GoLive{}, err
	}
	if len(in.Renditions) != r.want {
		return GoLive{}, fmt.Errorf("stream %s has %d renditions, want %d", stream, len(in.Renditions), r.want)
	}
	g := GoLive{Stream: stream, RenditionMS: map[string]float64{}}
	for name, d := range ready {
		g.RenditionMS[name] = ms1(d)
		g.PlayableMS = max(g.PlayableMS, ms1(d))
	}
	d, err := time.ParseDuration(in.FirstSegmentLatency)
	if err != nil {
		return GoLive{}, fmt.Errorf("stream %s: first_segment_latency %q: %w", stream, in.FirstSegmentLatency, err)
	}
	g.NodeMS = ms1(d)
	return g, nil
}

// TurnaroundRun is one turnaround phase: Streams publishers at once.
type TurnaroundRun struct {
	Streams        int                `json:"streams"`
	PublishSeconds float64            `json:"publish_seconds"`
	Stagger        float64            `json:"stagger_seconds"`
	PerStream      []StreamTurnaround `json:"per_stream"`
}

// StreamTurnaround is what the node measured for one stream.
type StreamTurnaround struct {
	Stream     string  `json:"stream"`
	Segments   uint64  `json:"segments"`
	Published  uint64  `json:"segments_published"`
	SourceOnly uint64  `json:"segments_source_only"`
	Failures   uint64  `json:"transcode_failures"`
	P99NodeMS  float64 `json:"node_p99_ms"` // the node's own nearest-rank p99, a cross-check
	// TurnaroundMS lists each segment's turnaround, in order.
	TurnaroundMS []float64 `json:"turnaround_ms"`
}

// pooled is every segment's turnaround of the run's streams.
func (t TurnaroundRun) pooled() []float64 {
	var all []float64
	for _, s := range t.PerStream {
		all = append(all, s.TurnaroundMS...)
	}
	return all
}

func (t TurnaroundRun) sourceOnly() (n uint64) {
	for _, s := range t.PerStream {
		n += s.SourceOnly
	}
	return n
}

// turnaround publishes streams test patterns for d, started half a segment
// apart so that their cuts fall at different moments as they would for
// independent publishers, and collects each segment's turnaround from the
// node once every stream has ended.
func (r *run) turnaround(ctx context.Context, streams int, d time.Duration) error {
	t := TurnaroundRun{Streams: streams, PublishSeconds: d.Seconds()}
	if streams > 1 {
		t.Stagger = (segment / 2).Seconds()
	}
	r.env.Say("latency: turnaround: %d stream(s) for %s", streams, d)
	names := make([]string, streams)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		names[i] = fmt.Sprintf("ta%d-%d", streams, i+1)
		wg.Go(func() {
			select {
			case <-time.After(time.Duration(i) * segment / 2):
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			_, errs[i] = publish.Publish(ctx, r.publishConfig(names[i], d), r.media)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, name := range names {
		in, err := r.waitEnded(ctx, name)
		if err != nil {
			return err
		}
		st := StreamTurnaround{Stream: name, Segments: in.Segments, Published: in.Published,
			SourceOnly: in.SourceOnly, Failures: in.Failures, TurnaroundMS: slices.Clone(in.Turnarounds)}
		if in.Turnaround != nil {
			st.P99NodeMS = in.Turnaround.P99
		}
		if len(st.TurnaroundMS) == 0 {
			return fmt.Errorf("stream %s: no turnarounds measured (%d segments)", name, in.Segments)
		}
		t.PerStream = append(t.PerStream, st)
	}
	r.data.Turnaround = append(r.data.Turnaround, t)
	all := t.pooled()
	r.env.Say("latency: turnaround, %d stream(s): %d segments, p50 %.0f ms, p95 %.0f ms", streams, len(all),
		median(all), quantile(all, 0.95))
	return nil
}
