package glass

import (
	"fmt"
	"math"
	"time"

	"github.com/castnet/castnet/internal/bench"
)

// Data is the part's raw figures, Result.Data.
type Data struct {
	// Paths are the latency phase's rows: floor, WHEP source, WHEP
	// rendition, LL-HLS, HLS.
	Paths []Path `json:"paths"`
	// LLHLS and HLS are the two HLS players' own accounts.
	LLHLS HLSResult `json:"ll_hls"`
	HLS   HLSResult `json:"hls"`
	// WHEPUnstamped counts the WHEP viewer's access units without a stamp
	// (0 when the node forwards SEI), WHEPBroken those lost to a hole.
	WHEPUnstamped uint64      `json:"whep_unstamped"`
	WHEPBroken    uint64      `json:"whep_broken"`
	Joins         []JoinRun   `json:"joins"`
	Levels        []Level     `json:"levels"`
	Source        SourceStats `json:"publisher"`
}

// Goals of issue 13, item 3.
const (
	goalWHEPMS    = 100.0
	goalWHEPRatio = 1.3
	goalJoinMS    = 500.0
	goalLLHLSMS   = 2000.0
)

// result assembles goals, tables and notes.
func (r *run) result(started time.Time) *bench.Result {
	if r.src != nil {
		r.data.Source = r.src.Stats()
	}
	d := r.data
	res := &bench.Result{Part: "glass", Started: started, Seconds: time.Since(started).Seconds(),
		Short: r.env.Short, Method: method, Data: d}
	res.Goals = d.goals()
	res.Tables = []bench.Table{d.latencyTable(), d.joinTable(), d.scaleTable()}
	res.Notes = d.notes()
	return res
}

// path returns the named row, or an empty one.
func (d Data) path(name string) Path {
	for _, p := range d.Paths {
		if p.Name == name {
			return p
		}
	}
	return Path{Name: name}
}

// llPath is the LL client's row, whichever mode it measured.
func (d Data) llPath() Path {
	if d.LLHLS.Parts {
		return d.path(pathLLHLS)
	}
	return d.path(pathNoParts)
}

func (d Data) goals() []bench.Goal {
	floor := bench.Median(d.path(pathFloor).MS)
	whep := bench.Median(d.path(pathWHEP).MS)
	ll := d.llPath()
	gs := []bench.Goal{
		{Name: "WHEP source glass-to-glass p50", Target: fmt.Sprintf("≤ %.0f ms", goalWHEPMS),
			Measured: fmt.Sprintf("%s ms (floor %s ms)", bench.FormatFloat(whep), bench.FormatFloat(floor)), Met: whep <= goalWHEPMS},
		{Name: "WHEP source p50 ÷ floor p50", Target: fmt.Sprintf("≤ %s×", bench.FormatFloat(goalWHEPRatio)),
			Measured: fmt.Sprintf("%s× (%+.1f ms)", bench.FormatFloat(whep/floor), whep-floor), Met: whep/floor <= goalWHEPRatio},
	}
	for _, j := range d.Joins {
		p50 := bench.Median(j.JoinMS)
		gs = append(gs, bench.Goal{Name: "WHEP join p50, " + j.Mode, Target: fmt.Sprintf("≤ %.0f ms", goalJoinMS),
			Measured: fmt.Sprintf("%.0f ms (%d joins, %d failed)", p50, len(j.JoinMS), j.Failed), Met: p50 <= goalJoinMS && j.Failed == 0})
	}
	llp50 := bench.Median(ll.MS)
	gs = append(gs, bench.Goal{Name: ll.Name + " glass-to-glass p50", Target: fmt.Sprintf("≤ %.1f s", goalLLHLSMS/1000),
		Measured: fmt.Sprintf("%.0f ms", llp50), Met: llp50 <= goalLLHLSMS})
	if n := len(d.Levels); n > 0 {
		gs = append(gs, d.Levels[n-1].goal())
	}
	return gs
}

// goal: every viewer of the top level connected, none lost a packet.
func (l Level) goal() bench.Goal {
	return bench.Goal{Name: fmt.Sprintf("%d WHEP viewers of one stream, no loss", l.Viewers),
		Target:   fmt.Sprintf("%d connected, 0 packets lost", l.Viewers),
		Measured: fmt.Sprintf("%d connected, %d lost of %d (%d gaps, %d recovered)", l.Connected, l.Counts.Lost, l.Counts.Packets+l.Counts.Lost, l.Counts.Gaps, l.Counts.Recovered),
		Met:      l.Connected == l.Viewers && l.Counts.Lost == 0}
}

func (d Data) latencyTable() bench.Table {
	t := bench.Table{Title: "Glass-to-glass: stamp at capture → arrival of the access unit's last packet (WebRTC) or of the part's or segment's last byte (HLS), ms",
		Columns: []string{"path", "n", "p50", "p95", "max", "p50 ÷ floor", "p95 ÷ floor", "note"}}
	floor := d.path(pathFloor).MS
	f50, f95 := bench.Median(floor), bench.Quantile(floor, 0.95)
	rows := append([]Path(nil), d.Paths...)
	if n := len(d.Levels); n > 0 {
		top := d.Levels[n-1]
		rows = append(rows, Path{Name: fmt.Sprintf("WHEP source, 1 of %d viewers (-source-only node)", top.Connected), Served: true, MS: top.LatencyMS})
	}
	for _, p := range rows {
		if !p.Served {
			t.Add(p.Name, "-", "-", "-", "-", "-", "-", p.Note)
			continue
		}
		p50, p95 := bench.Median(p.MS), bench.Quantile(p.MS, 0.95)
		t.Add(p.Name, len(p.MS), p50, p95, maxOf(p.MS), p50/f50, p95/f95, p.Note)
	}
	return t
}

func (d Data) joinTable() bench.Table {
	t := bench.Table{Title: "WHEP join: POST sent → first complete keyframe access unit received, ms",
		Columns: []string{"publisher", "n", "p50", "p95", "max", "first picture behind live, p50", "failed"}}
	for _, j := range d.Joins {
		t.Add(j.Mode, len(j.JoinMS), bench.Median(j.JoinMS), bench.Quantile(j.JoinMS, 0.95), maxOf(j.JoinMS),
			bench.Median(j.FirstAgeMS), j.Failed)
	}
	return t
}

func (d Data) scaleTable() bench.Table {
	t := bench.Table{Title: "WHEP viewers of one stream (castnet dev -source-only; CPU in cores over the window)",
		Columns: []string{"viewers", "connected", "node says", "node cores", "CPU/viewer (% of a core)", "bench cores",
			"machine cores busy", "packets/viewer/s", "gaps", "recovered", "lost", "loss %", "viewer p50 ms"}}
	base := 0.0
	for i, l := range d.Levels {
		if i == 0 {
			base = l.NodeCores
		}
		perViewer := math.NaN()
		if l.Connected > 1 {
			perViewer = 100 * (l.NodeCores - base) / float64(l.Connected-d.Levels[0].Connected)
		}
		pps := float64(l.Counts.Packets) / l.Seconds / float64(max(l.Connected, 1))
		t.Add(l.Viewers, l.Connected, l.NodeViewers, l.NodeCores, perViewer, l.BenchCores,
			fmt.Sprintf("%s of %d", bench.FormatFloat(l.MachineCores), l.CPUs), pps, l.Counts.Gaps,
			l.Counts.Recovered, l.Counts.Lost, 100*float64(l.Counts.Lost)/float64(max(l.Counts.Packets+l.Counts.Lost, 1)),
			bench.Median(l.LatencyMS))
	}
	return t
}

// notes say what limited the figures.
func (d Data) notes() []string {
	var out []string
	for _, l := range d.Levels {
		if l.CPUs > 0 && l.MachineCores >= 0.9*float64(l.CPUs) {
			out = append(out, fmt.Sprintf("at %d viewers the machine was saturated (%.2f of %d cores busy; this process, "+
				"which runs the publisher, its encoder's pipes and every viewer's SRTP and RTCP, used %.2f): "+
				"loss and latency there measure the bench machine as much as the node", l.Viewers, l.MachineCores, l.CPUs, l.BenchCores))
		}
		if l.FirstError != "" {
			out = append(out, fmt.Sprintf("at %d viewers %d failed to connect, first: %s", l.Viewers, l.Failed, l.FirstError))
		}
	}
	if floor, whep := bench.Median(d.path(pathFloor).MS), bench.Median(d.path(pathWHEP).MS); floor < 5 {
		out = append(out, fmt.Sprintf("the floor is %.2f ms on loopback, so the ratio goal compares fractions of a "+
			"millisecond: the node's hop adds %.2f ms at p50", floor, whep-floor))
	}
	if d.WHEPUnstamped > 0 {
		out = append(out, fmt.Sprintf("the WHEP viewer received %d access units without a stamp", d.WHEPUnstamped))
	}
	out = append(out, fmt.Sprintf("publisher: %d frames sent, %d PLIs received, %d answered by restarting the GOP (at most one per %s)",
		d.Source.Frames, d.Source.PLIs, d.Source.Restarts, minRestart))
	return out
}

func maxOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

const method = "One publisher in the bench process: an ffmpeg draws testsrc2 at 1280x720 and 30 fps in real " +
	"time (-re) with a beeping sine; its raw frames are encoded by libx264 (veryfast, zerolatency, constrained " +
	"baseline, no B-frames, 2.5 Mb/s with a 1 s VBV, IDR every 30 frames) into FLV on a pipe, so that each access " +
	"unit is sent the moment it is encoded, and the sine as Opus in 20 ms packets. Before pion (TrackLocalStaticSample) " +
	"packetizes an access unit, the publisher inserts an SEI NAL (user_data_unregistered, its own UUID, the wall-clock " +
	"capture time in Unix ns: when its raw frame reached the encoder, with emulation prevention) before the first " +
	"slice. Glass-to-glass is the arrival time of an access unit's last RTP packet at the viewer minus that stamp: " +
	"encoding, packetization, SRTP, the node and the loopback network are included; decoding, the jitter buffer and " +
	"display (the viewer's side, the same for every path) are excluded. HLS rows take, per " +
	"part or segment, the arrival of its last byte minus the oldest stamp in it (the first picture a player starting " +
	"on those bytes could show; player hold-back, HOLD-BACK and PART-HOLD-BACK, is excluded). The same publisher sends " +
	"at the same time to the node over WHIP and straight to a pion receiver on loopback with no node (the floor). " +
	"The node is castnet dev with the default ladder and 2 s segments; WHEP, LL-HLS (blocking reload with _HLS_msn " +
	"and _HLS_part, then a GET of each part) and plain HLS (playlist every target/2, whole segments) of the source " +
	"rendition are measured together. Joins: a new WHEP viewer's POST to its first complete keyframe, with the " +
	"publisher answering PLIs as a browser does (ffmpeg cannot be asked for a keyframe while it runs, so the next " +
	"frame goes to a spare x264 process started beforehand, whose first frame is an IDR; at most one restart per " +
	"250 ms) and ignoring them as OBS does. Viewers at scale: N pion WHEP viewers (NACK and receiver reports, as a " +
	"browser) of one stream on a second node started with -source-only so the ladder's ffmpeg does not share the " +
	"cores; node CPU from /proc over a fixed window at each N; CPU per viewer is (CPU(N) − CPU(1)) ÷ (N − 1); a " +
	"sequence gap not filled by a retransmission within 1 s is lost. Everything runs on this machine's loopback, " +
	"the viewers' decryption in the bench process beside the publisher."
