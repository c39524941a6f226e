// Package mpegtstest makes real media for tests: it runs ffmpeg to encode
// short H.264 and Opus streams and parses them into media.AccessUnits (for
// the mpegts and segment packages), encodes whole MPEG-TS segments as a
// broadcaster cuts them (for trust and verify), and runs ffprobe on the
// results.
// Tests using it skip when ffmpeg is not installed.
package mpegtstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
)

// H264 describes a test video to encode.
type H264 struct {
	Seconds   float64
	FPS       int
	Keyframes string // ffmpeg -force_key_frames expression; "" means one IDR per second
}

// Tool returns the path of an ffmpeg tool (ffmpeg, ffprobe), skipping the
// test when it is missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// Run runs an ffmpeg tool and returns its stdout and stderr, failing the
// test with its stderr on error.
func Run(t testing.TB, name string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, Tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, e.Bytes())
	}
	return o.Bytes(), e.Bytes()
}

// EncodeH264 encodes a 160x120 test pattern with libx264 (baseline, no
// B-frames, as WebRTC publishers send) and returns its access units with
// PTS frame/FPS. Keyframe units begin with SPS and PPS, as x264 repeats them.
func EncodeH264(t testing.TB, v H264) []media.AccessUnit {
	t.Helper()
	out := filepath.Join(t.TempDir(), "video.h264")
	kf := v.Keyframes
	if kf == "" {
		kf = "expr:gte(t,n_forced*1)"
	}
	Run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc=size=160x120:rate=%d", v.FPS),
		"-t", strconv.FormatFloat(v.Seconds, 'f', -1, 64),
		"-c:v", "libx264", "-profile:v", "baseline", "-bf", "0", "-pix_fmt", "yuv420p",
		"-x264-params", "keyint=1000:min-keyint=1:scenecut=0",
		"-force_key_frames", kf, "-f", "h264", out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	aus := AccessUnits(SplitAnnexB(data))
	for i := range aus {
		aus[i].PTS = time.Duration(i) * time.Second / time.Duration(v.FPS)
	}
	return aus
}

// SplitAnnexB returns the NAL units of an Annex B byte stream, without
// their start codes.
func SplitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			nalus = append(nalus, bytes.TrimRight(b[start:i], "\x00"))
		}
		start = i + 3
		i += 2
	}
	if start >= 0 && start < len(b) {
		nalus = append(nalus, b[start:])
	}
	return nalus
}

// AccessUnits groups NAL units into access units: a new unit starts at an
// AUD, SPS, PPS or SEI after a slice, or at a slice whose first_mb_in_slice
// is 0 (H.264 §7.4.1.2.3). x264 writes one slice per frame here.
func AccessUnits(nalus [][]byte) []media.AccessUnit {
	var aus []media.AccessUnit
	var cur *media.AccessUnit
	hasSlice := false
	for _, n := range nalus {
		typ := n[0] & 0x1F
		isSlice := typ == 1 || typ == 5
		newAU := cur == nil ||
			(hasSlice && (typ == 6 || typ == 7 || typ == 8 || typ == 9)) ||
			(hasSlice && isSlice && len(n) > 1 && n[1]&0x80 != 0)
		if newAU {
			aus = append(aus, media.AccessUnit{Kind: media.KindVideo, Codec: media.CodecH264})
			cur, hasSlice = &aus[len(aus)-1], false
		}
		cur.NALUs = append(cur.NALUs, n)
		cur.Keyframe = cur.Keyframe || typ == 5
		hasSlice = hasSlice || isSlice
	}
	return aus
}

// EncodeOpus encodes a sine tone with libopus in 20 ms packets and returns
// them as access units with PTS packet×20ms.
func EncodeOpus(t testing.TB, seconds float64) []media.AccessUnit {
	t.Helper()
	out := filepath.Join(t.TempDir(), "audio.ogg")
	Run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "sine=frequency=440:sample_rate=48000", "-ac", "2",
		"-t", strconv.FormatFloat(seconds, 'f', -1, 64),
		"-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-f", "ogg", out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := OggPackets(data)
	if err != nil {
		t.Fatal(err)
	}
	var aus []media.AccessUnit
	for i, p := range pkts[2:] { // skip OpusHead and OpusTags
		aus = append(aus, media.AccessUnit{
			Kind: media.KindAudio, Codec: media.CodecOpus, Data: p,
			PTS: time.Duration(i) * 20 * time.Millisecond, Duration: 20 * time.Millisecond,
		})
	}
	return aus
}

// EncodeAAC encodes a sine tone with the native AAC encoder into ADTS and
// returns one ADTS frame (1024 samples at 48 kHz) per access unit.
func EncodeAAC(t testing.TB, seconds float64) []media.AccessUnit {
	t.Helper()
	out := filepath.Join(t.TempDir(), "audio.aac")
	Run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "sine=frequency=440:sample_rate=48000", "-ac", "2",
		"-t", strconv.FormatFloat(seconds, 'f', -1, 64), "-c:a", "aac", "-f", "adts", out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	const frameDur = 1024 * time.Second / 48000
	var aus []media.AccessUnit
	for len(data) >= 7 {
		// aac_frame_length: 13 bits spanning bytes 3–5 of the ADTS header.
		n := int(data[3]&0x03)<<11 | int(data[4])<<3 | int(data[5])>>5
		if n < 7 || n > len(data) {
			t.Fatalf("bad ADTS frame length %d", n)
		}
		aus = append(aus, media.AccessUnit{Kind: media.KindAudio, Codec: "aac", Data: data[:n],
			PTS: time.Duration(len(aus)) * frameDur, Duration: frameDur})
		data = data[n:]
	}
	return aus
}

// OggPackets returns the packets of a single-stream Ogg file (RFC 3533 §6):
// each page's segment table gives lacing values, and a packet ends at the
// first value below 255.
func OggPackets(b []byte) ([][]byte, error) {
	var pkts [][]byte
	var cur []byte
	for len(b) > 0 {
		if len(b) < 27 || string(b[:4]) != "OggS" {
			return nil, fmt.Errorf("bad Ogg page at %d bytes from the end", len(b))
		}
		nseg := int(b[26])
		if len(b) < 27+nseg {
			return nil, fmt.Errorf("truncated Ogg segment table")
		}
		lacing := b[27 : 27+nseg]
		body := b[27+nseg:]
		for _, l := range lacing {
			if int(l) > len(body) {
				return nil, fmt.Errorf("truncated Ogg page")
			}
			cur = append(cur, body[:l]...)
			body = body[l:]
			if l < 255 {
				pkts, cur = append(pkts, cur), nil
			}
		}
		b = body
	}
	return pkts, nil
}

// AnnexB joins NAL units with 4-byte start codes.
func AnnexB(nalus [][]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// Probe is what ffprobe reports about a file.
type Probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Channels  int    `json:"channels"`
		NbFrames  string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration  string `json:"duration"`
		StartTime string `json:"start_time"`
	} `json:"format"`
}

// Duration is the format duration ffprobe reports.
func (p Probe) Duration() time.Duration {
	f, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return time.Duration(f * float64(time.Second))
}

// FFprobe runs ffprobe on path, counting frames, and returns its report.
func FFprobe(t testing.TB, path string) Probe {
	t.Helper()
	out, _ := Run(t, "ffprobe", "-v", "error", "-count_frames", "-print_format", "json",
		"-show_entries", "stream=codec_name,codec_type,channels,nb_read_frames:format=duration,start_time", path)
	var p Probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	return p
}

// Decode runs `ffmpeg -i path -f null -` and returns its log at warning
// level and above; a clean decode logs nothing.
func Decode(t testing.TB, path string) string {
	t.Helper()
	_, log := Run(t, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
		"-i", path, "-f", "null", "-")
	return string(log)
}
