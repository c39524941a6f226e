package ingest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/procstat"
	"github.com/castnet/castnet/internal/publish"
)

// reading is everything sampled at one instant of a window.
type reading struct {
	at      time.Time
	proc    procstat.Proc
	self    procstat.Proc
	machine procstat.Machine
	udp     procstat.UDP
	sent    int64
	got     counts
}

func read(ctx context.Context, t *target, s *publish.Swarm) (reading, error) {
	var r reading
	var err error
	if r.got, err = t.read(ctx); err != nil {
		return r, fmt.Errorf("%s counters: %w", t.name, err)
	}
	r.sent, _ = s.Sent()
	r.at = time.Now()
	if r.proc, err = t.node.Stat(); err != nil {
		return r, err
	}
	if r.self, err = procSelf(); err != nil {
		return r, err
	}
	if r.udp, err = procstat.ReadUDP(); err != nil {
		return r, err
	}
	r.machine, err = procstat.ReadMachine()
	return r, err
}

// measure holds n publishers for one window.
func measure(ctx context.Context, t *target, s *publish.Swarm, cfg Config, n int, idle procstat.Proc) (Level, error) {
	a, err := read(ctx, t, s)
	if err != nil {
		return Level{}, err
	}
	if err := bench.Sleep(ctx, cfg.Window); err != nil {
		return Level{}, err
	}
	b, err := read(ctx, t, s)
	if err != nil {
		return Level{}, err
	}
	wall := b.at.Sub(a.at).Seconds()
	lv := Level{Target: t.name, N: n, Connected: s.Members(),
		CPU:      (b.proc.CPU() - a.proc.CPU()).Seconds() / wall,
		LoadGen:  (b.self.CPU() - a.self.CPU()).Seconds() / wall,
		Machine:  procstat.Share(a.machine, b.machine),
		Sent:     b.sent - a.sent,
		Received: b.got.packets - a.got.packets,
		GapLoss:  b.got.lost - a.got.lost,
		Dropped:  b.udp.RcvbufErrors - a.udp.RcvbufErrors,
		Segments: b.got.segments - a.got.segments,
		RSS:      b.proc.RSS,
	}
	if lv.Sent > 0 {
		lv.Loss = math.Max(0, 1-float64(lv.Received)/float64(lv.Sent))
	}
	if lv.Connected > 0 {
		lv.RSSPerPub = float64(b.proc.RSS-idle.RSS) / float64(lv.Connected)
	}
	if t.name == "castnet" {
		expected := float64(lv.Connected) * wall / cfg.Segment.Seconds()
		lv.OnTime = math.Min(1, float64(lv.Segments)/expected)
	}
	if rt, err := t.node.Runtime(ctx, false); err == nil {
		lv.Goroutines = rt.Goroutines
	}
	return lv, nil
}

// broke says why a level failed, or "" when it held.
func broke(cfg Config, lv Level) string {
	switch {
	case lv.Connected < lv.N:
		return fmt.Sprintf("only %d of %d publishers connected", lv.Connected, lv.N)
	case lv.Loss > cfg.MaxLoss:
		return fmt.Sprintf("loss %.2f%% > %.2f%%", 100*lv.Loss, 100*cfg.MaxLoss)
	case lv.Target == "castnet" && lv.OnTime < cfg.MinOnTime:
		return fmt.Sprintf("segments on time %.1f%% < %.0f%%", 100*lv.OnTime, 100*cfg.MinOnTime)
	case lv.Machine > cfg.MaxMachine:
		return fmt.Sprintf("machine %.0f%% busy", 100*lv.Machine)
	}
	return ""
}

// summarize builds the goals and tables from the levels.
func summarize(r *bench.Result, cfg Config, d *Data) {
	levels := map[string]map[int]Level{"castnet": {}, "bare": {}}
	held := map[string]int{}
	for _, lv := range d.Levels {
		levels[lv.Target][lv.N] = lv
		if lv.Broke == "" && lv.N > held[lv.Target] {
			held[lv.Target] = lv.N
		}
	}
	t := bench.Table{Title: "ingest ramp: castnet -source-only beside a bare pion receiver (same publishers, same run)",
		Columns: []string{"publishers", "castnet cores", "bare cores", "ratio", "castnet loss %", "bare loss %",
			"segments on time %", "castnet MiB/publisher", "bare MiB/publisher", "machine busy %", "load generator cores", "note"}}
	ratioAt := map[int]float64{}
	for _, n := range cfg.Levels {
		c, okC := levels["castnet"][n]
		b, okB := levels["bare"][n]
		if !okC {
			continue
		}
		ratio := math.NaN()
		if okB && b.CPU > 0 {
			ratio = c.CPU / b.CPU
			ratioAt[n] = ratio
		}
		t.Add(n, c.CPU, orNaN(okB, b.CPU), ratio, 100*c.Loss, orNaN(okB, 100*b.Loss), 100*c.OnTime,
			mib(int64(c.RSSPerPub)), orNaN(okB, mib(int64(b.RSSPerPub))), 100*c.Machine, c.LoadGen, c.Broke+b.Broke)
	}
	r.Tables = append(r.Tables, t)
	r.Goals = append(r.Goals, bench.Goal{Name: "publishers held by castnet on this machine",
		Target: fmt.Sprintf("≥ %d", cfg.Goal), Measured: fmt.Sprint(held["castnet"]), Met: held["castnet"] >= cfg.Goal})
	at := min(cfg.Goal, held["castnet"])
	ratio, ok := ratioAt[at]
	measured := "-"
	if ok {
		measured = fmt.Sprintf("%.2f× at %d publishers", ratio, at)
	}
	r.Goals = append(r.Goals, bench.Goal{Name: "castnet CPU ÷ bare pion receiver CPU",
		Target: fmt.Sprintf("≤ %.1f× at %d", cfg.GoalRatio, cfg.Goal), Measured: measured,
		Met: ok && at == cfg.Goal && ratio <= cfg.GoalRatio})
	var ratios []float64
	for n, x := range ratioAt {
		if n <= at {
			ratios = append(ratios, x)
		}
	}
	if len(ratios) > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("Each level is one %s window, so one ratio is noisy on a shared machine: "+
			"the median over the %d levels castnet held is %.2f× (from %.2f to %.2f).", cfg.Window, len(ratios),
			bench.Median(ratios), slices.Min(ratios), slices.Max(ratios)))
	}
}

func orNaN(ok bool, v float64) float64 {
	if !ok {
		return math.NaN()
	}
	return v
}

func method(cfg Config) string {
	return fmt.Sprintf("A load generator in this process (publish.Swarm: the %dx%d@%d test pattern encoded once at %d kb/s "+
		"with Opus, packetized once, each publisher a real pion PeerConnection with its own ICE, DTLS and SRTP, paced "+
		"in real time) ramps through %v publishers into `castnet dev -source-only` (segments published as cut, on disk), "+
		"then into a bare receiver (`castnet bench receiver`: the same pion API, codecs, interceptors and single UDP "+
		"port as castnet, reading and discarding RTP) over the same levels. Each level settles %s, then is measured for "+
		"%s: the receiver process's CPU from /proc, the machine's busy share, packets received ÷ sent, segments "+
		"published ÷ expected, RSS above idle per publisher. A level breaks at loss > %.0f%%, on time < %.0f%%, machine "+
		"> %.0f%% busy, or a publisher that cannot connect.", cfg.Width, cfg.Height, cfg.FPS, cfg.Bitrate/1000,
		cfg.Levels, cfg.Settle, cfg.Window, 100*cfg.MaxLoss, 100*cfg.MinOnTime, 100*cfg.MaxMachine)
}
