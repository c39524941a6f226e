package latency

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"
)

// maxBody bounds what the poller reads of one playlist or segment.
const maxBody = 32 << 20

// prober watches a node's HLS output the way a player starting on it
// would: multivariant playlist, then each variant's media playlist, then
// that playlist's first segment.
type prober struct {
	client *http.Client
	base   string        // the node's HTTP base, e.g. http://127.0.0.1:8935
	every  time.Duration // poll interval
}

// firstPlayable polls until every one of want renditions lists a segment
// whose GET returns 200 with MPEG-TS bytes, and returns for each rendition
// (named by its playlist's directory) the time since start at which its
// first segment had been fetched.
func (p prober) firstPlayable(ctx context.Context, stream string, want int, start time.Time) (map[string]time.Duration, error) {
	top, err := url.Parse(p.base + "/hls/" + stream + "/index.m3u8")
	if err != nil {
		return nil, err
	}
	var pending []*url.URL // variant playlists without a playable segment yet
	ready := map[string]time.Duration{}
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		if len(ready) == 0 && len(pending) < want {
			pending = p.variants(ctx, top)
		}
		if len(pending) >= want {
			pending = p.fetchFirst(ctx, pending, ready, start)
			if len(pending) == 0 {
				return ready, nil
			}
		}
		select {
		case <-ctx.Done():
			return ready, fmt.Errorf("stream %s: %d of %d renditions playable: %w", stream, len(ready), want, ctx.Err())
		case <-tick.C:
		}
	}
}

// variants reads the multivariant playlist at top; nil while it is not
// there yet.
func (p prober) variants(ctx context.Context, top *url.URL) []*url.URL {
	pl, ok := p.playlist(ctx, top)
	if !ok {
		return nil
	}
	var out []*url.URL
	for _, v := range pl.Variants {
		if u, err := top.Parse(v); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// fetchFirst tries each pending variant once: its media playlist, then the
// first segment it lists. It records the playable ones in ready and returns
// the rest.
func (p prober) fetchFirst(ctx context.Context, pending []*url.URL, ready map[string]time.Duration, start time.Time) []*url.URL {
	var left []*url.URL
	for _, v := range pending {
		pl, ok := p.playlist(ctx, v)
		if ok && len(pl.Segments) > 0 {
			if seg, err := v.Parse(pl.Segments[0]); err == nil {
				if b, ok := p.get(ctx, seg); ok && isTS(b) {
					ready[rendition(v)] = time.Since(start)
					continue
				}
			}
		}
		left = append(left, v)
	}
	return left
}

// rendition names a variant by its playlist's directory ("480p" for
// /hls/s/480p/index.m3u8).
func rendition(u *url.URL) string { return path.Base(path.Dir(u.Path)) }

func (p prober) playlist(ctx context.Context, u *url.URL) (playlist, bool) {
	b, ok := p.get(ctx, u)
	if !ok {
		return playlist{}, false
	}
	pl, err := parsePlaylist(b)
	return pl, err == nil
}

// get fetches u; false for any error or status but 200, which the poller
// treats as "not yet".
func (p prober) get(ctx context.Context, u *url.URL) ([]byte, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return b, err == nil && resp.StatusCode == http.StatusOK
}
