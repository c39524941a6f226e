package parts

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/playback/hls/hlstest"
)

// TestFFmpegPartsDemuxAndDecode cuts real x264 + AAC segments, written in
// 1316-byte chunks as they would arrive: every part demuxes on its own
// (ffprobe reads its audio and video packets, its demuxer complains of
// nothing), and a segment's parts played in order decode without an error,
// every frame there.
func TestFFmpegPartsDemuxAndDecode(t *testing.T) {
	mpegtstest.Tool(t, "ffprobe")
	for _, bframes := range []int{0, 2} {
		t.Run(fmt.Sprintf("%d B-frames", bframes), func(t *testing.T) {
			seg := hlstest.Segments(t, "320x240", 2, 2, bframes)[0]
			got, c := cut(t, seg, 500*time.Millisecond, 1316)
			if len(got) != 5 || !got[0].Independent {
				t.Fatalf("%d parts, first independent %v", len(got), got[0].Independent)
			}
			dir, video := t.TempDir(), 0
			var all []byte
			for i, p := range got {
				path := filepath.Join(dir, fmt.Sprintf("%d.ts", i))
				if err := os.WriteFile(path, p.Data, 0o644); err != nil {
					t.Fatal(err)
				}
				video += probePart(t, path)
				all = append(all, p.Data...)
			}
			if video != 50 {
				t.Errorf("the parts hold %d video packets, want 50", video)
			}
			checkAgainstInput(t, c, got, seg)
			whole := filepath.Join(dir, "all.ts")
			if err := os.WriteFile(whole, all, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, stderr := mpegtstest.Run(t, "ffmpeg", "-v", "error", "-i", whole, "-f", "null", "-"); len(stderr) > 0 {
				t.Errorf("decoding the parts in order:\n%s", stderr)
			}
			frames, _ := mpegtstest.Run(t, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
				"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", whole)
			// MPEG-TS input lists the stream under its program too: the first line.
			if first, _, _ := strings.Cut(string(frames), "\n"); first != "50" {
				t.Errorf("decoded %q frames, want 50", frames)
			}
		})
	}
}

// probePart demuxes one part with ffprobe and returns its video packets.
// The h264 decoder ffprobe runs to probe a part that does not start with
// an IDR lacks the parameter sets, and says so; a player decodes the parts
// in order. Only the demuxer's own messages count as failures.
func probePart(t *testing.T, path string) int {
	t.Helper()
	out, stderr := mpegtstest.Run(t, "ffprobe", "-v", "error", "-show_entries", "packet=stream_index", "-of", "csv=p=0", path)
	for _, line := range strings.Split(string(stderr), "\n") {
		if strings.Contains(line, "[mpegts") || strings.Contains(line, "Invalid data") {
			t.Errorf("%s: %s", filepath.Base(path), line)
		}
	}
	counts := map[string]int{}
	for _, line := range strings.Fields(string(out)) {
		counts[strings.TrimSuffix(line, ",")]++
	}
	if counts["0"] == 0 || counts["1"] == 0 {
		t.Errorf("%s: packets per stream %v, want video and audio", filepath.Base(path), counts)
	}
	return counts["0"]
}

// TestFFmpegPartsInALiveLLPlaylist feeds cut parts of real segments to an
// hls.Store as a broadcaster would, and checks the live playlist a player
// loads: the LL-HLS rules (hlstest), and every part it lists fetched as
// the bytes cut.
func TestFFmpegPartsInALiveLLPlaylist(t *testing.T) {
	segs := hlstest.Segments(t, "320x240", 6, 2, 0)
	store, err := hls.New(hls.Config{Dir: filepath.Join(t.TempDir(), "hls"), MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	st, err := store.Open("cam", nil)
	if err != nil {
		t.Fatal(err)
	}
	cutBytes := map[string][]byte{}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for seq, seg := range segs {
		n := 5
		if seq == len(segs)-1 {
			n = 2 // the segment in progress
		}
		got, _ := cut(t, seg, hls.DefaultPartTarget, 1316)
		for i, p := range got[:n] {
			if err := st.AddPart("source", uint64(seq), p); err != nil {
				t.Fatal(err)
			}
			cutBytes[fmt.Sprintf("%d.%d.ts", seq, i)] = p.Data
		}
		if seq < len(segs)-1 {
			at := start.Add(time.Duration(seq) * 2 * time.Second)
			if err := st.AddSegmentAt(uint64(seq), at, 2*time.Second, map[string][]byte{"source": seg}); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv := httptest.NewServer(store.Handler())
	defer srv.Close()
	body := httpGet(t, srv.URL+"/hls/cam/source/index.m3u8")
	p, err := hlstest.Read(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := hlstest.Check(p, hlstest.Rules{SumSlackMs: 40, Min85: true}); err != nil {
		t.Errorf("%v\n%s", err, body)
	}
	listed := slices.Clone(p.Trailing.Parts)
	for _, s := range p.Segments {
		listed = append(listed, s.Parts...)
	}
	if len(listed) != 12 || len(p.Trailing.Parts) != 2 || p.Hint != "2.2.ts" {
		t.Errorf("%d parts listed, %d in progress, hint %q\n%s", len(listed), len(p.Trailing.Parts), p.Hint, body)
	}
	for _, pt := range listed {
		if got := httpGet(t, srv.URL+"/hls/cam/source/"+pt.URI); !bytes.Equal(got, cutBytes[pt.URI]) {
			t.Errorf("%s: served %d bytes, cut %d", pt.URI, len(got), len(cutBytes[pt.URI]))
		}
	}
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}
