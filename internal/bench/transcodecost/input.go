package transcodecost

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// The input, as `castnet publish -test-pattern` sends it (internal/publish):
// testsrc2 at 720p30, x264 constrained baseline at 2.5 Mb/s without
// B-frames, an IDR every second, and a beeping sine as 48 kHz stereo Opus.
const (
	srcW, srcH  = 1280, 720
	srcFPS      = 30
	srcBitrate  = 2_500_000
	opusBitrate = 96_000
	// segmentSeconds is castnet's default segment duration.
	segmentSeconds = 2
)

// segment is one input segment, read into memory so that both paths start
// from the same bytes and neither pays for the disk.
type segment struct {
	Name  string  // file name in the input directory
	Path  string  // the file, for the bare path's stdin
	Media float64 // seconds of media it holds
	Data  []byte
}

// encodeArgs encodes seconds of the test pattern into one MPEG-TS file.
func encodeArgs(seconds int, out string) []string {
	d := strconv.Itoa(seconds)
	rate, gop := strconv.Itoa(srcBitrate), strconv.Itoa(srcFPS)
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%s", srcW, srcH, srcFPS, d),
		"-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=" + d,
		"-map", "0:v:0", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
		"-profile:v", "baseline", "-pix_fmt", "yuv420p", "-bf", "0",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-map", "1:a:0", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", strconv.Itoa(opusBitrate),
		"-f", "mpegts", out}
}

// splitArgs cuts the encoded file, without re-encoding, into segments at
// the keyframes every segmentSeconds, and lists them with their times. The
// timestamps run on from segment to segment, as castnet's segmenter keeps
// them, and x264 repeats SPS and PPS at each IDR, so every segment starts
// decodable.
func splitArgs(in, dir string) []string {
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", in,
		"-map", "0", "-c", "copy", "-f", "segment", "-segment_time", strconv.Itoa(segmentSeconds),
		"-segment_format", "mpegts", "-segment_list", filepath.Join(dir, "segments.csv"),
		"-segment_list_type", "csv", filepath.Join(dir, "seg%03d.ts")}
}

// listed is one line of the segment muxer's CSV list.
type listed struct {
	Name       string
	Start, End float64
}

// parseSegmentList reads the segment muxer's CSV list: "name,start,end"
// with times in seconds.
func parseSegmentList(s string) ([]listed, error) {
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("segment list: %w", err)
	}
	out := make([]listed, 0, len(rows))
	for i, row := range rows {
		if len(row) != 3 {
			return nil, fmt.Errorf("segment list line %d: %d fields, want 3", i+1, len(row))
		}
		start, err1 := strconv.ParseFloat(row[1], 64)
		end, err2 := strconv.ParseFloat(row[2], 64)
		if err := errors.Join(err1, err2); err != nil || end <= start || row[0] == "" {
			return nil, fmt.Errorf("segment list line %d: %q", i+1, strings.Join(row, ","))
		}
		out = append(out, listed{Name: row[0], Start: start, End: end})
	}
	return out, nil
}

// makeInput encodes n segments' worth of the test pattern in dir and
// returns them. The encoder runs a little past n segments so the last one
// is whole; only the first n are kept.
func makeInput(ctx context.Context, ffmpeg, dir string, n int) ([]segment, error) {
	full := filepath.Join(dir, "full.ts")
	if err := runFFmpeg(ctx, ffmpeg, encodeArgs(n*segmentSeconds+1, full)); err != nil {
		return nil, fmt.Errorf("encoding the input: %w", err)
	}
	if err := runFFmpeg(ctx, ffmpeg, splitArgs(full, dir)); err != nil {
		return nil, fmt.Errorf("cutting the input: %w", err)
	}
	list, err := os.ReadFile(filepath.Join(dir, "segments.csv"))
	if err != nil {
		return nil, err
	}
	entries, err := parseSegmentList(string(list))
	if err != nil {
		return nil, err
	}
	if len(entries) < n {
		return nil, fmt.Errorf("the input was cut into %d segments, want %d", len(entries), n)
	}
	segs := make([]segment, n)
	for i, e := range entries[:n] {
		path := filepath.Join(dir, e.Name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		segs[i] = segment{Name: e.Name, Path: path, Media: e.End - e.Start, Data: data}
	}
	return segs, nil
}

func runFFmpeg(ctx context.Context, ffmpeg string, args []string) error {
	out, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", ffmpeg, err, strings.TrimSpace(lastBytes(out, 1024)))
	}
	return nil
}

// lastBytes is the end of b, for error messages.
func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
