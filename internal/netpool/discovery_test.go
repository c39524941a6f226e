package netpool

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func bigInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return v
}

func infoWithPrice(price string) string {
	return strings.Replace(goodInfo, `"price_per_pixel":"0"`, `"price_per_pixel":"`+price+`"`, 1)
}

func TestMaxPriceExcludesExpensiveOrchestrators(t *testing.T) {
	const huge = "1000000000000000000000000000000" // past int64: prices are big integers
	tests := []struct {
		name     string
		price    string // the only node's price; "" when its info fails
		max      string
		eligible bool
		why      string
	}{
		{"over the maximum", "1000", "100", false, "price_per_pixel 1000 wei is over the maximum 100"},
		{"far over an int64", huge, "1000000000000000000", false, "price_per_pixel " + huge},
		{"at the maximum", "100", "100", true, ""},
		{"no maximum", huge, "", true, ""},
		{"unknown price with a maximum", "", "100", false, "price unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startNode(t, "ok")
			n.setInfo("")
			if tt.price != "" {
				n.setInfo(infoWithPrice(tt.price))
			}
			cfg := Config{URLs: urls(n)}
			if tt.max != "" {
				cfg.MaxPrice = bigInt(tt.max)
			}
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			// No waiting for the probe: with a maximum, Transcode must.
			_, err = p.Transcode(context.Background(), segJob("a", 1))
			if tt.eligible {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrAllFailed) || !errors.Is(err, ErrIneligible) || !strings.Contains(err.Error(), tt.why) ||
				!strings.Contains(err.Error(), n.URL) {
				t.Errorf("err %v, want ErrAllFailed naming %s and %q", err, n.URL, tt.why)
			}
			if n.count() != 0 {
				t.Errorf("an ineligible node was sent %d segments", n.count())
			}
			if s := state(t, p, n.URL); s.Eligible || !strings.Contains(s.WhyNot, tt.why) {
				t.Errorf("snapshot eligible %v why %q", s.Eligible, s.WhyNot)
			}
		})
	}
}

func TestProbeDecidesEligibility(t *testing.T) {
	tests := []struct {
		name     string
		info     string
		eligible bool
		why      string
		probeErr string
	}{
		{"a castnet/2 h264 node is eligible", goodInfo, true, "", ""},
		{"another protocol is not", strings.Replace(goodInfo, "castnet/2", "castnet/1", 1), false, `protocol "castnet/1"`, ""},
		{"no h264 is not", strings.Replace(goodInfo, `["h264"]`, `["vp8"]`, 1), false, `lack "h264"`, ""},
		{"a failing probe does not exclude", "", true, "", "status 500"},
		{"nor does bad info", `{"protocol":"castnet/2","price_per_pixel":12}`, true, "", "want a decimal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, good := startNode(t, "ok"), startNode(t, "ok")
			n.setInfo(tt.info)
			p := newPool(t, Config{URLs: urls(n, good)})
			s := state(t, p, n.URL)
			if s.Eligible != tt.eligible || !strings.Contains(s.WhyNot, tt.why) || (tt.why == "") != (s.WhyNot == "") {
				t.Errorf("eligible %v why %q, want %v %q", s.Eligible, s.WhyNot, tt.eligible, tt.why)
			}
			if !strings.Contains(s.ProbeError, tt.probeErr) || (tt.probeErr == "") != (s.ProbeError == "") || s.ProbedAt == nil {
				t.Errorf("probe error %q at %v, want %q", s.ProbeError, s.ProbedAt, tt.probeErr)
			}
			// Ineligible or sick, the node is not the first choice: the
			// healthy one is.
			mustTranscode(t, p, "a", 1)
			if wantN := tt.info == goodInfo; (n.count() == 1) != wantN || (good.count() == 1) == wantN {
				t.Errorf("calls node %d good %d", n.count(), good.count())
			}
		})
	}
}

func TestFullOrchestratorIsTriedAfterFreeOnes(t *testing.T) {
	full, free := startNode(t, "ok"), startNode(t, "ok")
	full.setInfo(strings.Replace(goodInfo, `"free":4`, `"free":0`, 1))
	p := newPool(t, Config{URLs: urls(full, free)})
	mustTranscode(t, p, "a", 1)
	if full.count() != 0 || free.count() != 1 {
		t.Errorf("calls full %d free %d", full.count(), free.count())
	}
	// Full is not excluded: when the free one fails, it takes the segment.
	free.setMode("fail")
	mustTranscode(t, p, "b", 1)
	if full.count() != 1 {
		t.Errorf("calls full %d, want the failover", full.count())
	}
}

func TestUnprobedOrchestratorsAreUsable(t *testing.T) {
	n := startNode(t, "ok")
	n.setInfo("hang")
	start := time.Now()
	p, err := New(Config{URLs: urls(n), ProbeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("New took %v: it must not wait for probes", d)
	}
	mustTranscode(t, p, "a", 1)
	if s := state(t, p, n.URL); s.ProbedAt != nil || !s.Eligible {
		t.Errorf("snapshot %+v, want unprobed and eligible", s)
	}
}

func TestEligibilityChangesAreLoggedOnce(t *testing.T) {
	log, logs := newLog()
	n := startNode(t, "ok")
	p := newPool(t, Config{URLs: urls(n), Logger: log})
	probe := func(times int) {
		for range times {
			p.probeAll(context.Background(), p.nodeList())
		}
	}
	probe(2)
	n.setInfo(strings.Replace(goodInfo, "castnet/2", "castnet/9", 1))
	probe(3)
	n.setInfo(goodInfo)
	probe(3)
	if got := logs.count("orchestrator not eligible", "orchestrator="+n.URL, "castnet/9"); got != 1 {
		t.Errorf("%d lines for the loss of eligibility, want 1:\n%s", got, logs)
	}
	if got := logs.count("orchestrator now eligible", "orchestrator="+n.URL); got != 1 {
		t.Errorf("%d lines for the return, want 1:\n%s", got, logs)
	}
	n.setInfo("")
	probe(3)
	if got := logs.count("orchestrator probe failed", "orchestrator="+n.URL); got != 1 {
		t.Errorf("%d lines for the failing probe, want 1:\n%s", got, logs)
	}
}

// webhook is a discovery webhook whose answer the test sets.
type webhook struct {
	URL    string
	body   atomic.Value // string; "" answers 500
	served atomic.Int32
}

func startWebhook(t *testing.T, body string) *webhook {
	t.Helper()
	w := &webhook{}
	w.body.Store(body)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.served.Add(1)
		b := w.body.Load().(string)
		if b == "" {
			http.Error(rw, "down", http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Write([]byte(b))
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

func list(ns ...*fakeNode) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, `{"address":"`+n.URL+`"}`)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func origins(p *Pool) map[string]string {
	out := map[string]string{}
	for _, s := range p.Snapshot() {
		out[s.URL] = s.Origin
	}
	return out
}

func TestWebhookDiscoversOrchestrators(t *testing.T) {
	const refresh = 50 * time.Millisecond
	c := newFake()
	log, logs := newLog()
	s, x, y := startNode(t, "ok"), startNode(t, "ok"), startNode(t, "ok")
	hook := startWebhook(t, list(x))
	p := newPool(t, Config{URLs: urls(s), Webhook: hook.URL, WebhookRefresh: refresh, Clock: c, Logger: log})
	if got := origins(p); len(got) != 2 || got[s.URL] != "static" || got[x.URL] != "webhook" {
		t.Fatalf("after the first read: %v", got)
	}

	// The next refresh adds y and probes it at once.
	hook.body.Store(`[{"address":"` + y.URL + `/"},{"address":"ftp://nope"},{"address":"` + x.URL + `"}]`)
	waitDue(t, c, refresh)
	c.Advance(refresh)
	logs.waitFor(t, "orchestrator probed", "orchestrator="+y.URL)
	if got := origins(p); got[y.URL] != "webhook" || state(t, p, y.URL).ProbedAt == nil {
		t.Fatalf("y not added and probed: %+v", p.Snapshot())
	}
	if got := origins(p); len(got) != 3 {
		t.Fatalf("after adding y: %v", got)
	}

	// A stream on y moves when y leaves the list; the static node stays.
	full := strings.Replace(goodInfo, `"free":4`, `"free":0`, 1)
	s.setInfo(full)
	x.setInfo(full)
	p.probeAll(context.Background(), p.nodeList())
	mustTranscode(t, p, "a", 1)
	if y.count() != 1 {
		t.Fatalf("stream a is not on y, the only free node: calls %d %d %d", s.count(), x.count(), y.count())
	}
	hook.body.Store(list(x))
	p.refreshWebhook(context.Background()) // or wait for the next refresh
	if got := origins(p); len(got) != 2 || got[y.URL] != "" || got[s.URL] != "static" {
		t.Fatalf("after y left: %v", got)
	}
	mustTranscode(t, p, "a", 2)
	if y.count() != 1 || s.count()+x.count() != 1 {
		t.Errorf("a removed node was sent a segment: calls %d %d %d", s.count(), x.count(), y.count())
	}
}

func TestFailingWebhookKeepsTheLastList(t *testing.T) {
	for name, bad := range map[string]string{
		"an error status": "",
		"not JSON":        "<html>oops</html>",
		"not a list":      `{"address":"http://x"}`,
		"over 1 MiB":      "[" + strings.Repeat(" ", 1<<20) + "]",
	} {
		t.Run(name, func(t *testing.T) {
			log, logs := newLog()
			x := startNode(t, "ok")
			hook := startWebhook(t, list(x))
			p := newPool(t, Config{Webhook: hook.URL, Logger: log})
			hook.body.Store(bad)
			p.refreshWebhook(context.Background())
			p.refreshWebhook(context.Background())
			if got := origins(p); len(got) != 1 || got[x.URL] != "webhook" {
				t.Fatalf("list %v, want x kept", got)
			}
			mustTranscode(t, p, "a", 1)
			if got := logs.count("orchestrator webhook failing"); got != 1 {
				t.Errorf("%d failure lines for two failed reads, want 1:\n%s", got, logs)
			}
			hook.body.Store(list(x))
			p.refreshWebhook(context.Background())
			if got := logs.count("orchestrator webhook answers again"); got != 1 {
				t.Errorf("%d recovery lines, want 1", got)
			}
		})
	}
}
