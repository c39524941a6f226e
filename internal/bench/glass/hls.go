package glass

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
)

// maxHLSBody bounds one playlist, part or segment read.
const maxHLSBody = 32 << 20

// HLSResult is what one HLS client measured.
type HLSResult struct {
	// Parts says the client followed partial segments (LL-HLS); false
	// when it fetched whole segments, by choice or because the playlist
	// listed no parts.
	Parts bool `json:"parts"`
	// Samples are per part or segment: its last byte's arrival minus the
	// stamp of the oldest access unit in it.
	Samples    []stampSample `json:"-"`
	Fetched    int           `json:"fetched"`
	Unstamped  int           `json:"unstamped"` // fetched, but no stamp found in its video
	Errors     int           `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
}

func (r *HLSResult) fail(err error) {
	if r.Errors++; r.FirstError == "" {
		r.FirstError = err.Error()
	}
}

// hlsClient plays one media playlist over HTTP.
type hlsClient struct {
	client *http.Client
	url    *url.URL
}

// pos is a part's place: media sequence number and part index.
type pos struct {
	msn  uint64
	part int
}

func (p pos) before(q pos) bool { return p.msn < q.msn || p.msn == q.msn && p.part < q.part }

// followParts is a Low-Latency HLS player's loader: from the live edge,
// a blocking playlist reload for the next part (_HLS_msn, _HLS_part:
// draft-pantos-hls-rfc8216bis §6.2.5.2), then a GET of each part it newly
// lists, until ctx ends. A playlist without parts or blocking reload is
// followed segment by segment instead, as pollSegments does.
func (c hlsClient) followParts(ctx context.Context) HLSResult {
	var res HLSResult
	pl, err := c.waitPlaylist(ctx)
	if err != nil {
		res.fail(err)
		return res
	}
	if !pl.hasParts() || !pl.CanBlock {
		return c.pollSegments(ctx)
	}
	res.Parts = true
	next := edge(pl)
	for ctx.Err() == nil {
		pl, err := c.playlist(ctx, fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", next.msn, next.part))
		if err != nil {
			c.retry(ctx, &res, err)
			continue
		}
		next = c.fetchParts(ctx, pl, next, &res)
	}
	return res
}

// edge is the position after the playlist's last part: a player joining
// live waits for the next one rather than take one already old.
func edge(pl mediaPlaylist) pos {
	var next pos
	for _, s := range pl.Segments {
		if len(s.Parts) > 0 {
			next = after(s, len(s.Parts)-1)
		}
	}
	return next
}

// after is the position that follows part i of s.
func after(s hlsSegment, i int) pos {
	if !s.Open && i == len(s.Parts)-1 {
		return pos{msn: s.MSN + 1}
	}
	return pos{msn: s.MSN, part: i + 1}
}

// fetchParts fetches every part listed at or after next and returns the
// position after the last.
func (c hlsClient) fetchParts(ctx context.Context, pl mediaPlaylist, next pos, res *HLSResult) pos {
	for _, s := range pl.Segments {
		for i, p := range s.Parts {
			if (pos{s.MSN, i}).before(next) {
				continue
			}
			if !p.Gap {
				c.measure(ctx, p.URI, res)
			}
			next = after(s, i)
		}
	}
	return next
}

// pollSegments is a plain HLS player's loader: the playlist every half
// target duration (RFC 8216 §6.3.4 lets a client reload that often when
// nothing changed), and each new whole segment as it is listed.
func (c hlsClient) pollSegments(ctx context.Context) HLSResult {
	var res HLSResult
	pl, err := c.waitPlaylist(ctx)
	if err != nil {
		res.fail(err)
		return res
	}
	last := lastClosed(pl)
	every := max(pl.Target/2, 100*time.Millisecond)
	for ctx.Err() == nil {
		if bench.Sleep(ctx, every) != nil {
			break
		}
		if pl, err = c.playlist(ctx, ""); err != nil {
			res.fail(err)
			continue
		}
		for _, s := range pl.Segments {
			if !s.Open && s.MSN > last {
				c.measure(ctx, s.URI, &res)
				last = s.MSN
			}
		}
	}
	return res
}

// lastClosed is the newest whole segment's sequence number.
func lastClosed(pl mediaPlaylist) uint64 {
	var last uint64
	for _, s := range pl.Segments {
		if !s.Open {
			last = s.MSN
		}
	}
	return last
}

// waitPlaylist reloads until the playlist lists something.
func (c hlsClient) waitPlaylist(ctx context.Context) (mediaPlaylist, error) {
	var last error
	for ctx.Err() == nil {
		pl, err := c.playlist(ctx, "")
		if err == nil && len(pl.Segments) > 0 {
			return pl, nil
		}
		last = err
		_ = bench.Sleep(ctx, 100*time.Millisecond)
	}
	return mediaPlaylist{}, errors.Join(fmt.Errorf("playlist %s never listed a segment", c.url), last)
}

func (c hlsClient) retry(ctx context.Context, res *HLSResult, err error) {
	if ctx.Err() == nil {
		res.fail(err)
		_ = bench.Sleep(ctx, 100*time.Millisecond)
	}
}

func (c hlsClient) playlist(ctx context.Context, query string) (mediaPlaylist, error) {
	u := *c.url
	u.RawQuery = query
	b, err := c.get(ctx, &u)
	if err != nil {
		return mediaPlaylist{}, err
	}
	return parseMediaPlaylist(b)
}

// measure fetches a part or segment and records its glass-to-glass time
// at the moment its last byte arrived.
func (c hlsClient) measure(ctx context.Context, uri string, res *HLSResult) {
	u, err := c.url.Parse(uri)
	if err != nil {
		res.fail(err)
		return
	}
	b, err := c.get(ctx, u)
	arrived := time.Now()
	if err != nil {
		if ctx.Err() == nil {
			res.fail(err)
		}
		return
	}
	res.Fetched++
	oldest, ok := oldestStamp(b)
	if !ok {
		res.Unstamped++
		return
	}
	res.Samples = append(res.Samples, stampSample{At: arrived, MS: ms(arrived.Sub(oldest))})
}

func (c hlsClient) get(ctx context.Context, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHLSBody))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", u.Path, resp.Status)
	}
	return b, err
}

// oldestStamp demuxes MPEG-TS and returns the earliest stamp among its
// H.264 access units: the picture a player that starts on these bytes
// shows first. Damage the demuxer skips is skipped here too.
func oldestStamp(ts []byte) (time.Time, bool) {
	d := mpegts.NewDemuxer(bytes.NewReader(ts))
	var oldest time.Time
	for range len(ts)/mpegts.PacketSize + 1 { // Next consumes at least a packet per call
		pes, err := d.Next()
		if err != nil {
			if errors.Is(err, mpegts.ErrSync) || errors.Is(err, mpegts.ErrCorrupt) || errors.Is(err, mpegts.ErrTooLarge) {
				continue
			}
			break
		}
		if pes.Codec != media.CodecH264 {
			continue
		}
		if t, ok := findStamp(media.SplitAnnexB(pes.Data)); ok && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	return oldest, !oldest.IsZero()
}
