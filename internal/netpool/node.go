package netpool

import (
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/transcode/remote"
)

// Origins of an orchestrator, as NodeState reports them.
const (
	originStatic  = "static"
	originWebhook = "webhook"
)

// Protocol is the broadcaster ↔ orchestrator protocol an orchestrator must
// speak to be eligible (docs/protocol.md).
const Protocol = "castnet/2"

// Codec is the codec an orchestrator must list to be eligible.
const Codec = "h264"

// recentWindow is how many of a node's latest segments its failure ratio
// covers.
const recentWindow = 20

// smoothing is the weight of the newest latency in the running means.
const smoothing = 0.2

// untriedLatency is the latency, in segments, assumed for a node that has
// never been tried: neutral, so that a proven fast node is preferred but an
// unknown one beats a slow one.
const untriedLatency = 0.5

// node is one orchestrator. Its fields after client are guarded by Pool.mu.
type node struct {
	url    string
	origin string
	client *remote.Client

	info     *Info     // last good /api/info answer; nil until one
	probedAt time.Time // last probe, good or bad; zero until one
	probeErr string    // last probe's failure; "" when it answered
	eligible bool
	whyNot   string

	ok, failed uint64
	latency    float64 // smoothed seconds past the input's end
	hasLatency bool
	recent     [recentWindow]bool // true: the segment failed
	nrecent    int
	next       int
}

// FeatureStreamed is the /api/info feature of a node that streams its
// renditions as they are made (orchestrator.FeatureStreamedRenditions).
const FeatureStreamed = "streamed-renditions"

// streams says whether n's last info offers streamed renditions. The
// caller holds p.mu.
func (n *node) streams() bool {
	return n.info != nil && slices.Contains(n.info.Features, FeatureStreamed)
}

// addNode registers an orchestrator. The caller holds p.mu or owns p.
func (p *Pool) addNode(u, origin string) *node {
	n := &node{url: u, origin: origin, client: &remote.Client{URL: u, HTTP: p.http, Whole: p.cfg.WholeUpload}}
	if p.cfg.Sealer != nil {
		n.client.Sealer = p.cfg.Sealer(u)
	}
	n.eligible, n.whyNot = judge(nil, p.cfg.MaxPrice)
	p.nodes = append(p.nodes, n)
	p.byURL[u] = n
	return n
}

// removeNode forgets an orchestrator. The caller holds p.mu. Streams stuck
// to it are moved at their next segment.
func (p *Pool) removeNode(n *node) {
	delete(p.byURL, n.url)
	p.nodes = slices.DeleteFunc(p.nodes, func(m *node) bool { return m == n })
}

// judge decides eligibility from the last good info (nil: none yet).
func judge(info *Info, maxPrice *big.Int) (bool, string) {
	if info == nil {
		if maxPrice != nil {
			return false, "price unknown: no good /api/info answer yet"
		}
		return true, ""
	}
	switch {
	case info.Protocol != Protocol:
		return false, fmt.Sprintf("protocol %q, want %q", info.Protocol, Protocol)
	case !slices.Contains(info.Codecs, Codec):
		return false, fmt.Sprintf("codecs %q lack %q", info.Codecs, Codec)
	case maxPrice != nil && info.PricePerPixel.Cmp(maxPrice) > 0:
		return false, fmt.Sprintf("price_per_pixel %s wei is over the maximum %s", info.PricePerPixel, maxPrice)
	}
	return true, ""
}

// recordOutcome adds a segment's outcome to the node's recent window.
func (n *node) recordOutcome(failed bool) {
	n.recent[n.next] = failed
	n.next = (n.next + 1) % recentWindow
	n.nrecent = min(n.nrecent+1, recentWindow)
	if failed {
		n.failed++
	} else {
		n.ok++
	}
}

// failRatio is the share of failures among the node's recent segments.
func (n *node) failRatio() float64 {
	if n.nrecent == 0 {
		return 0
	}
	f := 0
	for i := range n.nrecent {
		if n.recent[i] {
			f++
		}
	}
	return float64(f) / float64(n.nrecent)
}

// score is the node's latency score (see the package doc).
func (n *node) score(segment, attemptTimeout time.Duration) float64 {
	lat := untriedLatency
	switch {
	case n.hasLatency:
		lat = n.latency / segment.Seconds()
	case n.failed > 0:
		lat = attemptTimeout.Seconds() / segment.Seconds()
	}
	return lat * (1 + n.failRatio())
}

// smooth folds a new sample into a running mean seeded by its first.
func smooth(mean *float64, has *bool, sample float64) {
	if !*has {
		*mean, *has = sample, true
		return
	}
	*mean = (1-smoothing)**mean + smoothing*sample
}

// parseAddress checks an orchestrator or webhook URL and returns it without
// a trailing slash: absolute http or https with a host, no query or
// fragment.
func parseAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty address")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("address %q: want http:// or https://", s)
	case u.Host == "" || u.User != nil:
		return "", fmt.Errorf("address %q: want a host and no user", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("address %q: want no query or fragment", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
