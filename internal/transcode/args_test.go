package transcode

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// ladderJob is a 1080p source with the whole default ladder below it.
func ladderJob() Job {
	return Job{Seq: 7, Profiles: Ladder(DefaultLadder(), 1920, 1080), SourceWidth: 1920, SourceHeight: 1080}
}

// TestArgsGolden pins the complete command lines, one argument per line, so
// any change to what castnet asks of ffmpeg shows up in review.
func TestArgsGolden(t *testing.T) {
	tests := []struct {
		golden string
		opts   EncodeOptions
	}{
		{golden: "args_libx264.golden", opts: EncodeOptions{}},
		{golden: "args_libx264_threads.golden", opts: EncodeOptions{Encoder: EncoderX264, Threads: 2}},
		{golden: "args_nvenc.golden", opts: EncodeOptions{Encoder: EncoderNVENC, GPU: 1}},
		{golden: "args_nvenc_hwdecode.golden", opts: EncodeOptions{Encoder: EncoderNVENC, GPU: 0, HWDecode: true}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := strings.Join(tt.opts.Args(ladderJob()), "\n") + "\n"
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("args differ from %s (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

func TestBuildArgsIsLibx264Default(t *testing.T) {
	if got, want := BuildArgs(ladderJob()), (EncodeOptions{Encoder: EncoderX264}).Args(ladderJob()); !slices.Equal(got, want) {
		t.Fatalf("BuildArgs = %q, want the libx264 arguments %q", got, want)
	}
}

// outputArgs splits args into the options of each output file, in order.
func outputArgs(args []string) [][]string {
	var outs [][]string
	start := slices.Index(args, "pipe:0") + 1
	for i := start; i < len(args); i++ {
		if strings.HasPrefix(args[i], "out") && strings.HasSuffix(args[i], ".ts") {
			outs = append(outs, args[start:i+1])
			start = i + 1
		}
	}
	return outs
}

// hasSeq reports whether args contains seq as consecutive elements.
func hasSeq(args []string, seq ...string) bool {
	for i := 0; i+len(seq) <= len(args); i++ {
		if slices.Equal(args[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}

func TestArgsInput(t *testing.T) {
	args := BuildArgs(ladderJob())
	in := slices.Index(args, "-i")
	if !hasSeq(args, "-f", "mpegts", "-copyts", "-i", "pipe:0") {
		t.Errorf("input is not MPEG-TS on stdin with -copyts: %q", args[:in+2])
	}
	if !slices.Contains(args[:in], "-nostdin") {
		t.Errorf("-nostdin missing: ffmpeg must not treat stdin as a console")
	}
	if slices.Contains(args, "-y") || slices.Contains(args, "-hwaccel") {
		t.Errorf("unexpected option in %q", args)
	}
}

func TestArgsOneOutputPerProfile(t *testing.T) {
	job := ladderJob()
	outs := outputArgs(BuildArgs(job))
	if len(outs) != len(job.Profiles) {
		t.Fatalf("%d outputs for %d profiles", len(outs), len(job.Profiles))
	}
	for i, out := range outs {
		name := job.Profiles[i].Name
		if got := out[len(out)-1]; got != OutputName(i) {
			t.Errorf("%s: written to %q, want %q", name, got, OutputName(i))
		}
		for _, seq := range [][]string{
			{"-map", "0:a:0?", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000", "-af", "aresample=async=1"},
			{"-f", "mpegts", "-mpegts_copyts", "1", "-muxdelay", "0", "-muxpreload", "0"},
		} {
			if !hasSeq(out, seq...) {
				t.Errorf("%s: missing %q in %q", name, seq, out)
			}
		}
	}
	if !hasSeq(outs[0], "-map", "0:v:0", "-c:v", "copy") {
		t.Errorf("source: video not copied: %q", outs[0])
	}
}

func TestArgsVideoEncoding(t *testing.T) {
	p := Profile{Name: "p", Width: 640, Height: 360, Bitrate: 700_000, FPS: 25}
	tests := []struct {
		name    string
		p       Profile
		opts    EncodeOptions
		want    [][]string
		notWant []string
	}{
		{name: "libx264 veryfast with VBV from the bitrate and no B-frames", p: p, want: [][]string{
			{"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p"},
			{"-b:v", "700000", "-maxrate", "700000", "-bufsize", "1400000"},
			{"-bf", "0"},
		}},
		{name: "gop 0 means one IDR at the first frame and no scene cuts",
			p: p, want: [][]string{{"-g", "1048576", "-keyint_min", "1048576", "-sc_threshold", "0"}, {"-force_key_frames", "expr:eq(n,0)"}}},
		{name: "a gop in seconds becomes a frame cadence",
			p: withGOP(p, 2), want: [][]string{{"-g", "50", "-keyint_min", "50", "-sc_threshold", "0"}, {"-force_key_frames", "expr:not(mod(n,50))"}}},
		{name: "a fractional gop rounds to whole frames",
			p: withGOP(p, 0.5), want: [][]string{{"-g", "13"}, {"-force_key_frames", "expr:not(mod(n,13))"}}},
		{name: "720p and up use the High profile",
			p: Profile{Name: "hd", Width: 1280, Height: 720, Bitrate: 3_000_000, FPS: 30}, want: [][]string{{"-profile:v", "high"}}},
		{name: "threads cap the encoder",
			p: p, opts: EncodeOptions{Threads: 3}, want: [][]string{{"-threads", "3"}}},
		{name: "nvenc selects the GPU and forces IDRs",
			p: p, opts: EncodeOptions{Encoder: EncoderNVENC, GPU: 2}, want: [][]string{
				{"-c:v", "h264_nvenc", "-gpu", "2"},
				{"-rc", "vbr", "-b:v", "700000", "-maxrate", "700000", "-bufsize", "1400000"},
				{"-bf", "0", "-no-scenecut", "1", "-forced-idr", "1", "-force_key_frames", "expr:eq(n,0)"},
			}, notWant: []string{"libx264", "-preset veryfast", "-pix_fmt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := Job{Profiles: []Profile{tt.p}, SourceWidth: 1920, SourceHeight: 1080}
			out := outputArgs(tt.opts.Args(job))[0]
			for _, seq := range tt.want {
				if !hasSeq(out, seq...) {
					t.Errorf("missing %q in %q", seq, out)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(strings.Join(out, " "), s) {
					t.Errorf("unexpected %q in %q", s, out)
				}
			}
		})
	}
}

func withGOP(p Profile, gop float64) Profile { p.GOP = gop; return p }

func TestArgsFilterGraph(t *testing.T) {
	p360 := DefaultLadder()[2]
	tests := []struct {
		name string
		job  Job
		opts EncodeOptions
		want string // "" means no -filter_complex at all
	}{
		{name: "passthrough only needs no filters",
			job: Job{Profiles: []Profile{SourceProfile()}, SourceWidth: 1280, SourceHeight: 720}, want: ""},
		{name: "one rung needs no split",
			job:  Job{Profiles: []Profile{SourceProfile(), p360}, SourceWidth: 1280, SourceHeight: 720},
			want: "[0:v:0]fps=30,scale=640:360,setsar=1[v0]"},
		{name: "rungs are split and sized by FitSize",
			job:  ladderJob(),
			want: "[0:v:0]split=3[s0][s1][s2];[s0]fps=30,scale=1280:720,setsar=1[v0];[s1]fps=30,scale=854:480,setsar=1[v1];[s2]fps=30,scale=640:360,setsar=1[v2]"},
		{name: "a portrait source keeps its shape",
			job:  Job{Profiles: []Profile{p360}, SourceWidth: 720, SourceHeight: 1280},
			want: "[0:v:0]fps=30,scale=202:360,setsar=1[v0]"},
		{name: "hardware decoding scales on the GPU",
			job: Job{Profiles: []Profile{p360}, SourceWidth: 1280, SourceHeight: 720}, opts: EncodeOptions{Encoder: EncoderNVENC, HWDecode: true},
			want: "[0:v:0]fps=30,scale_cuda=640:360,setsar=1[v0]"},
		{name: "hardware decoding is ignored for libx264",
			job: Job{Profiles: []Profile{p360}, SourceWidth: 1280, SourceHeight: 720}, opts: EncodeOptions{HWDecode: true},
			want: "[0:v:0]fps=30,scale=640:360,setsar=1[v0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.opts.Args(tt.job)
			got := ""
			if i := slices.Index(args, "-filter_complex"); i >= 0 {
				got = args[i+1]
			}
			if got != tt.want {
				t.Fatalf("filter graph = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestArgsHardwareDecodeInput(t *testing.T) {
	args := EncodeOptions{Encoder: EncoderNVENC, GPU: 1, HWDecode: true}.Args(ladderJob())
	if !hasSeq(args, "-hwaccel", "cuda", "-hwaccel_device", "1", "-hwaccel_output_format", "cuda") ||
		slices.Index(args, "-hwaccel") > slices.Index(args, "-i") {
		t.Fatalf("CUDA decoding not requested before the input: %q", args)
	}
}

// TestArgsProbeSmallForGrowingInput: ffmpeg must not buffer seconds of a
// segment that is still being cut before it starts decoding.
func TestArgsProbeSmallForGrowingInput(t *testing.T) {
	args := BuildArgs(ladderJob())
	if !hasSeq(args, "-probesize", "262144", "-analyzeduration", "300000", "-f", "mpegts") ||
		slices.Index(args, "-analyzeduration") > slices.Index(args, "-i") {
		t.Fatalf("input probing not limited before the input: %q", args)
	}
}
