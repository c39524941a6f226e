package netpool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// InfoPath is where an orchestrator reports its offer.
const InfoPath = "/api/info"

// Bounds on what a probe reads and keeps.
const (
	maxInfoBytes   = 64 << 10
	maxPriceDigits = 100 // 2^256 has 78 digits; more is not a price
	maxCodecs      = 64
	maxProbes      = 16 // probes in flight at once
)

// Info is an orchestrator's offer, as its GET /api/info reports it:
//
//	{"protocol": "castnet/2", "codecs": ["h264"], "capacity": 2, "free": 2,
//	 "price_per_pixel": "0", "max_dimension": 7680}
type Info struct {
	Protocol string
	Codecs   []string
	Capacity int
	Free     int
	// PricePerPixel is in wei; it is never nil in a parsed Info.
	PricePerPixel *big.Int
	MaxDimension  int
	// Features are what the node does beyond castnet/2's core, e.g.
	// "streamed-renditions".
	Features []string
}

// infoJSON is the wire form of Info; unknown fields are allowed so that
// orchestrators can add some.
type infoJSON struct {
	Protocol      string          `json:"protocol"`
	Codecs        []string        `json:"codecs"`
	Capacity      int             `json:"capacity"`
	Free          int             `json:"free"`
	PricePerPixel json.RawMessage `json:"price_per_pixel"`
	MaxDimension  int             `json:"max_dimension"`
	Features      []string        `json:"features"`
}

// ParseInfo parses an /api/info answer. The price must be a JSON string of
// decimal digits (wei amounts exceed what a JSON number holds exactly);
// capacity, free and max_dimension must not be negative.
func ParseInfo(b []byte) (Info, error) {
	var raw infoJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrBadInfo, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Info{}, fmt.Errorf("%w: data after the object", ErrBadInfo)
	}
	price, err := parsePrice(raw.PricePerPixel)
	if err != nil {
		return Info{}, fmt.Errorf("%w: price_per_pixel: %v", ErrBadInfo, err)
	}
	switch {
	case raw.Capacity < 0 || raw.Free < 0 || raw.MaxDimension < 0:
		return Info{}, fmt.Errorf("%w: negative capacity, free or max_dimension", ErrBadInfo)
	case len(raw.Codecs) > maxCodecs || len(raw.Features) > maxCodecs:
		return Info{}, fmt.Errorf("%w: %d codecs and %d features, at most %d each", ErrBadInfo, len(raw.Codecs), len(raw.Features), maxCodecs)
	}
	return Info{Protocol: raw.Protocol, Codecs: raw.Codecs, Features: raw.Features, Capacity: raw.Capacity, Free: raw.Free,
		PricePerPixel: price, MaxDimension: raw.MaxDimension}, nil
}

// parsePrice reads a JSON string of decimal digits.
func parsePrice(raw json.RawMessage) (*big.Int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("missing")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("want a decimal string, got %.40s", raw)
	}
	if s == "" || len(s) > maxPriceDigits {
		return nil, fmt.Errorf("want 1 to %d decimal digits, got %d characters", maxPriceDigits, len(s))
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%.40q is not a decimal integer", s)
		}
	}
	v, _ := new(big.Int).SetString(s, 10) // digits only: cannot fail
	return v, nil
}

// fetch GETs u with a deadline and returns at most limit bytes of a 200
// answer's body.
func (p *Pool) fetch(ctx context.Context, u string, timeout time.Duration, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("body over %d bytes", limit)
	}
	return b, nil
}

// probeAll probes ns, at most maxProbes at once, and returns when every
// probe has ended.
func (p *Pool) probeAll(ctx context.Context, ns []*node) {
	sem := make(chan struct{}, maxProbes)
	var wg sync.WaitGroup
	for _, n := range ns {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			p.probe(ctx, n)
		})
	}
	wg.Wait()
}

// probe reads one orchestrator's info and updates its eligibility.
func (p *Pool) probe(ctx context.Context, n *node) {
	b, err := p.fetch(ctx, n.url+InfoPath, p.cfg.ProbeTimeout, maxInfoBytes)
	var info Info
	if err == nil {
		info, err = ParseInfo(b)
	}
	if ctx.Err() != nil {
		return // closing: the failure is ours, not the node's
	}
	p.applyProbe(n, info, err, p.clock.Now())
}

// applyProbe records a probe's result and logs changes of health and of
// eligibility, once each.
func (p *Pool) applyProbe(n *node, info Info, err error, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasErr, wasProbed := n.probeErr, !n.probedAt.IsZero()
	n.probedAt = now
	if err != nil {
		n.probeErr = err.Error()
		if wasErr == "" {
			p.log.Warn("orchestrator probe failed; ranking it after healthy ones", "orchestrator", n.url, "err", err)
		}
	} else {
		n.probeErr, n.info = "", &info
		if wasErr != "" || !wasProbed {
			p.log.Info("orchestrator probed", "orchestrator", n.url, "protocol", info.Protocol,
				"price_per_pixel", info.PricePerPixel.String(), "capacity", info.Capacity, "free", info.Free)
		}
	}
	ok, why := judge(n.info, p.cfg.MaxPrice)
	if ok != n.eligible || why != n.whyNot {
		if ok {
			p.log.Info("orchestrator now eligible", "orchestrator", n.url, "was", n.whyNot)
		} else {
			p.log.Warn("orchestrator not eligible; it is sent no segments", "orchestrator", n.url, "reason", why)
		}
	}
	n.eligible, n.whyNot = ok, why
}
