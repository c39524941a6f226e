package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/castnet/castnet/internal/bench"
)

// explain adds, when a goal is missed, where the CPU goes: the machine's
// budget at the highest level castnet held (what the node, the bare
// receiver and the load generator each take of the cores), and the node's
// heaviest functions from its CPU profile.
func explain(ctx context.Context, env bench.Env, r *bench.Result, d *Data) {
	missed := false
	for _, g := range r.Goals {
		missed = missed || !g.Met
	}
	if !missed {
		return
	}
	var held, broke *Level
	bare := map[int]Level{}
	for i, lv := range d.Levels {
		switch {
		case lv.Target == "bare":
			bare[lv.N] = lv
		case lv.Broke == "":
			held = &d.Levels[i]
		case broke == nil:
			broke = &d.Levels[i]
		}
	}
	if held != nil {
		b, ok := bare[held.N]
		line := fmt.Sprintf("At %d publishers castnet used %.2f cores (%.2f ms of CPU per publisher-second)", held.N,
			held.CPU, 1000*held.CPU/float64(held.N))
		if ok {
			line += fmt.Sprintf(" against the bare receiver's %.2f (%.2f ms)", b.CPU, 1000*b.CPU/float64(held.N))
		}
		r.Notes = append(r.Notes, line+fmt.Sprintf("; the load generator took %.2f cores of the same machine, "+
			"so castnet and its publishers together need about %.2f cores per 100 publishers.",
			held.LoadGen, 100*(held.CPU+held.LoadGen)/float64(held.N)))
	}
	if broke != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("castnet broke at %d publishers: %s (machine %.0f%% busy, kernel UDP drops %d).",
			broke.N, broke.Broke, 100*broke.Machine, broke.Dropped))
	}
	for _, p := range r.Profiles {
		if !strings.Contains(p, "cpu") {
			continue
		}
		path := filepath.Join(env.Out, p)
		if top, err := bench.PprofTop(ctx, path, 8); err == nil && len(top) > 0 {
			r.Notes = append(r.Notes, "node CPU, heaviest functions: "+strings.Join(top, "; "))
		}
		if top, err := bench.PprofTop(ctx, path, 10, "-cum", "-show=castnet/internal"); err == nil && len(top) > 0 {
			r.Notes = append(r.Notes, "node CPU under castnet's own functions (pion and runtime code they call folded in): "+strings.Join(top, "; "))
		}
	}
}
