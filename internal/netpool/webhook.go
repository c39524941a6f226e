package netpool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Bounds on the discovery webhook.
const (
	maxWebhookBytes = 1 << 20
	// MaxWebhookNodes is how many orchestrators a webhook answer may add;
	// the rest are skipped (each is probed every Refresh).
	MaxWebhookNodes = 256
	webhookTimeout  = 5 * time.Second
)

// WebhookList is a parsed webhook answer.
type WebhookList struct {
	// Addresses are the orchestrators' base URLs, without trailing slash,
	// each once, in the webhook's order.
	Addresses []string
	// Skipped says why each left-out entry was left out.
	Skipped []string
}

// ParseWebhook parses a discovery webhook's answer,
//
//	[{"address":"http://host:port"}, ...]
//
// as Livepeer's orchestrator webhook sends it. An entry with an unusable
// address is skipped and reported in Skipped; an answer that is not such a
// JSON array is an error wrapping ErrBadWebhook. An empty array is a valid
// answer: no orchestrators.
func ParseWebhook(b []byte) (WebhookList, error) {
	var entries []struct {
		Address string `json:"address"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&entries); err != nil {
		return WebhookList{}, fmt.Errorf("%w: %v", ErrBadWebhook, err)
	}
	if entries == nil {
		return WebhookList{}, fmt.Errorf("%w: want a JSON array, got null", ErrBadWebhook)
	}
	if _, err := dec.Token(); err != io.EOF {
		return WebhookList{}, fmt.Errorf("%w: data after the array", ErrBadWebhook)
	}
	var l WebhookList
	seen := map[string]bool{}
	for i, e := range entries {
		u, err := parseAddress(e.Address)
		switch {
		case err != nil:
			l.Skipped = append(l.Skipped, fmt.Sprintf("entry %d: %v", i, err))
		case seen[u]:
		case len(l.Addresses) == MaxWebhookNodes:
			l.Skipped = append(l.Skipped, fmt.Sprintf("entry %d: over the limit of %d orchestrators", i, MaxWebhookNodes))
		default:
			seen[u] = true
			l.Addresses = append(l.Addresses, u)
		}
	}
	return l, nil
}

// refreshWebhook reads the webhook, applies its list and returns the
// orchestrators it added, for the caller to probe. A failure keeps the last
// list; it is logged when the webhook starts failing and when it recovers,
// not at every refresh.
func (p *Pool) refreshWebhook(ctx context.Context) []*node {
	b, err := p.fetch(ctx, p.cfg.Webhook, webhookTimeout, maxWebhookBytes)
	var l WebhookList
	if err == nil {
		l, err = ParseWebhook(b)
	}
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		p.webhookFailed(err)
		return nil
	}
	return p.applyWebhook(l)
}

func (p *Pool) webhookFailed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.webhookErr == "" {
		p.log.Warn("orchestrator webhook failing; keeping the last list", "webhook", p.cfg.Webhook,
			"err", err, "orchestrators", len(p.nodes))
	}
	p.webhookErr = err.Error()
}

// applyWebhook makes the webhook's orchestrators those of list, keeping the
// static ones and the state of those already known, and returns the added.
func (p *Pool) applyWebhook(l WebhookList) []*node {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.webhookErr != "" {
		p.log.Info("orchestrator webhook answers again", "webhook", p.cfg.Webhook)
		p.webhookErr = ""
	}
	want := map[string]bool{}
	var added []*node
	var addedURLs, removed []string
	for _, u := range l.Addresses {
		want[u] = true
		if p.byURL[u] == nil {
			added = append(added, p.addNode(u, originWebhook))
			addedURLs = append(addedURLs, u)
		}
	}
	for _, n := range append([]*node(nil), p.nodes...) {
		if n.origin == originWebhook && !want[n.url] {
			p.removeNode(n)
			removed = append(removed, n.url)
		}
	}
	if len(addedURLs) > 0 || len(removed) > 0 {
		p.log.Info("orchestrator list changed", "added", addedURLs, "removed", removed, "orchestrators", len(p.nodes))
	}
	if skipped := fmt.Sprint(l.Skipped); skipped != p.webhookSkipped {
		p.webhookSkipped = skipped // logged when it changes, not at every refresh
		if len(l.Skipped) > 0 {
			p.log.Warn("webhook entries skipped", "webhook", p.cfg.Webhook, "skipped", l.Skipped)
		}
	}
	return added
}
