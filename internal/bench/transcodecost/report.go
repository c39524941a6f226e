package transcodecost

import (
	"fmt"
	"math"

	"github.com/castnet/castnet/internal/bench"
)

// goalRatio is the goal: castnet's CPU per media second at most 5 %
// over the same ffmpeg ladder run by hand.
const goalRatio = 1.05

// Sample is one segment measured both ways, in seconds.
type Sample struct {
	Seq   int     `json:"seq"`
	Media float64 `json:"media_s"`
	// CastnetFirst tells which path ran first on this segment.
	CastnetFirst bool `json:"castnet_first"`
	// CastnetWall runs from the request's start to the checked answer.
	CastnetWall float64 `json:"castnet_wall_s"`
	// CastnetFFmpegCPU is the orchestrator's ffmpeg child; OrchestratorCPU
	// the orchestrator's own; ClientCPU the broadcaster client's (this
	// process's) during the send.
	CastnetFFmpegCPU float64 `json:"castnet_ffmpeg_cpu_s"`
	OrchestratorCPU  float64 `json:"orchestrator_cpu_s"`
	ClientCPU        float64 `json:"client_cpu_s"`
	BareWall         float64 `json:"bare_wall_s"`
	BareCPU          float64 `json:"bare_cpu_s"`
	// OrchestratorRSS is the orchestrator's resident set after the answer.
	OrchestratorRSS int64 `json:"orchestrator_rss_bytes"`
}

// CastnetCPU is all the CPU castnet spent on the segment.
func (s Sample) CastnetCPU() float64 { return s.CastnetFFmpegCPU + s.OrchestratorCPU + s.ClientCPU }

// GoCPU is castnet's own share: the orchestrator's and the client's Go code.
func (s Sample) GoCPU() float64 { return s.OrchestratorCPU + s.ClientCPU }

func newSample(seq int, seg segment, castnetFirst bool, c castnetRun, b bareRun) Sample {
	return Sample{Seq: seq, Media: seg.Media, CastnetFirst: castnetFirst,
		CastnetWall: c.Wall.Seconds(), CastnetFFmpegCPU: c.FFmpeg.Seconds(), OrchestratorCPU: c.Orch.Seconds(),
		ClientCPU: c.Client.Seconds(), BareWall: b.Wall.Seconds(), BareCPU: b.CPU.Seconds(), OrchestratorRSS: c.RSS}
}

// Summary is the run's figures: per media second, pooled over the
// segments (sums divided by sums), and the medians of per-segment ratios.
type Summary struct {
	MediaSeconds float64 `json:"media_s"`
	Segments     int     `json:"segments"`

	CastnetCPUPerMedia  float64 `json:"castnet_cpu_per_media"`
	BareCPUPerMedia     float64 `json:"bare_cpu_per_media"`
	CastnetWallPerMedia float64 `json:"castnet_wall_per_media"`
	BareWallPerMedia    float64 `json:"bare_wall_per_media"`
	GoCPUPerMedia       float64 `json:"go_cpu_per_media"`
	// GoShare is the Go share of castnet's CPU, 0..1.
	GoShare float64 `json:"go_share"`

	CPURatio       float64 `json:"cpu_ratio"` // pooled castnet/bare; the goal's figure
	CPURatioMedian float64 `json:"cpu_ratio_median"`
	WallRatio      float64 `json:"wall_ratio"`
	WallRatioMed   float64 `json:"wall_ratio_median"`
	// FFmpegRatio compares ffmpeg alone: under castnet (fed through a pipe
	// from the request) and by hand (fed from the file).
	FFmpegRatio float64 `json:"ffmpeg_ratio"`
	MaxRSS      int64   `json:"orchestrator_max_rss_bytes"`
}

// summarize pools the samples. Ratios over a zero denominator are NaN
// (encoded as null in the JSON by the caller's choice of fields).
func summarize(samples []Sample) Summary {
	var media, cCPU, bCPU, cWall, bWall, goCPU, ff float64
	var cpuRatios, wallRatios []float64
	var rss int64
	for _, s := range samples {
		media += s.Media
		cCPU += s.CastnetCPU()
		bCPU += s.BareCPU
		cWall += s.CastnetWall
		bWall += s.BareWall
		goCPU += s.GoCPU()
		ff += s.CastnetFFmpegCPU
		cpuRatios = append(cpuRatios, div(s.CastnetCPU(), s.BareCPU))
		wallRatios = append(wallRatios, div(s.CastnetWall, s.BareWall))
		rss = max(rss, s.OrchestratorRSS)
	}
	return Summary{MediaSeconds: media, Segments: len(samples),
		CastnetCPUPerMedia: div(cCPU, media), BareCPUPerMedia: div(bCPU, media),
		CastnetWallPerMedia: div(cWall, media), BareWallPerMedia: div(bWall, media),
		GoCPUPerMedia: div(goCPU, media), GoShare: div(goCPU, cCPU),
		CPURatio: div(cCPU, bCPU), CPURatioMedian: bench.Median(cpuRatios),
		WallRatio: div(cWall, bWall), WallRatioMed: bench.Median(wallRatios),
		FFmpegRatio: div(ff, bCPU), MaxRSS: rss}
}

// div is a/b, NaN when b is not positive.
func div(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

// finite replaces NaN and infinities by -1, which JSON can carry.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return -1
	}
	return x
}

// jsonSafe makes every ratio encodable: encoding/json refuses NaN.
func (s Summary) jsonSafe() Summary {
	for _, p := range []*float64{&s.CastnetCPUPerMedia, &s.BareCPUPerMedia, &s.CastnetWallPerMedia,
		&s.BareWallPerMedia, &s.GoCPUPerMedia, &s.GoShare, &s.CPURatio, &s.CPURatioMedian,
		&s.WallRatio, &s.WallRatioMed, &s.FFmpegRatio} {
		*p = finite(*p)
	}
	return s
}

// goal is the goal row, judged on the pooled ratio: CPU seconds
// add up, so the sum is what a fleet pays.
func goal(s Summary) bench.Goal {
	return bench.Goal{Name: "transcode CPU ratio (castnet / bare ffmpeg)", Target: fmt.Sprintf("≤ %.2f", goalRatio),
		Measured: fmt.Sprintf("%s pooled (median %s)", bench.FormatFloat(s.CPURatio), bench.FormatFloat(s.CPURatioMedian)),
		Met:      !math.IsNaN(s.CPURatio) && s.CPURatio <= goalRatio}
}

// tables are the per-segment figures and the summary, per media second.
func tables(samples []Sample, s Summary) []bench.Table {
	per := bench.Table{Title: "per segment (per media second)", Columns: []string{"seq", "first",
		"castnet cpu", "bare cpu", "ratio", "castnet wall", "bare wall", "go cpu"}}
	for _, x := range samples {
		first := map[bool]string{true: "castnet", false: "bare"}[x.CastnetFirst]
		per.Add(x.Seq, first, div(x.CastnetCPU(), x.Media), div(x.BareCPU, x.Media), div(x.CastnetCPU(), x.BareCPU),
			div(x.CastnetWall, x.Media), div(x.BareWall, x.Media), div(x.GoCPU(), x.Media))
	}
	sum := bench.Table{Title: fmt.Sprintf("summary over %d segments, %.0f s of media", s.Segments, s.MediaSeconds),
		Columns: []string{"figure", "castnet", "bare", "castnet/bare"}}
	sum.Add("CPU-s per media-s (pooled)", s.CastnetCPUPerMedia, s.BareCPUPerMedia, s.CPURatio)
	sum.Add("CPU ratio, median of segments", "", "", s.CPURatioMedian)
	sum.Add("wall-s per media-s (pooled)", s.CastnetWallPerMedia, s.BareWallPerMedia, s.WallRatio)
	sum.Add("wall ratio, median of segments", "", "", s.WallRatioMed)
	sum.Add("ffmpeg alone, CPU-s per media-s", s.CastnetCPUPerMedia-s.GoCPUPerMedia, s.BareCPUPerMedia, s.FFmpegRatio)
	sum.Add("Go (orchestrator + client), CPU-s per media-s", s.GoCPUPerMedia, "", "")
	sum.Add("Go share of castnet CPU", fmt.Sprintf("%.1f %%", 100*s.GoShare), "", "")
	sum.Add("orchestrator peak RSS, MiB", float64(s.MaxRSS)/(1<<20), "", "")
	return []bench.Table{per, sum}
}

// gapNote says, for a missed goal, where the extra CPU went and what
// would close the gap.
func gapNote(s Summary) string {
	over := s.CastnetCPUPerMedia - s.BareCPUPerMedia // CPU-s per media-s beyond bare
	ffOver := s.CastnetCPUPerMedia - s.GoCPUPerMedia - s.BareCPUPerMedia
	msg := fmt.Sprintf("castnet spends %s CPU-s per media-s more than bare ffmpeg (ratio %s): %s of it is Go "+
		"(orchestrator + client), %s is ffmpeg itself costing more under castnet (ffmpeg alone: %s× bare).",
		bench.FormatFloat(over), bench.FormatFloat(s.CPURatio), bench.FormatFloat(s.GoCPUPerMedia),
		bench.FormatFloat(ffOver), bench.FormatFloat(s.FFmpegRatio))
	if s.GoCPUPerMedia >= ffOver {
		return msg + " Closing it means cutting the Go work per segment: see the profiles' top functions " +
			"(hashing, signing, multipart copying, the client's media checks) and remove copies or repeated passes over the segment."
	}
	return msg + " Closing it means feeding ffmpeg as cheaply as the file does: larger pipe writes, " +
		"or handing it a file once the segment is complete; the Go share alone is within the goal."
}
