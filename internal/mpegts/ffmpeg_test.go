package mpegts_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
)

// muxAUs muxes video and audio access units, interleaved by PTS, as the
// segmenter does.
func muxAUs(t testing.TB, cfg mpegts.MuxerConfig, video, audio []media.AccessUnit) []byte {
	t.Helper()
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, cfg)
	if err := m.WriteTables(); err != nil {
		t.Fatal(err)
	}
	for len(video) > 0 || len(audio) > 0 {
		var err error
		if len(video) > 0 && (len(audio) == 0 || video[0].PTS <= audio[0].PTS) {
			v := video[0]
			video = video[1:]
			err = m.WriteVideoNALUs(v.PTS+time.Second, v.PTS+time.Second, v.Keyframe, v.NALUs)
		} else {
			a := audio[0]
			audio = audio[1:]
			err = m.WriteAudio(a.PTS+time.Second, a.Data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFFmpegReadsMuxerOutput is the compatibility contract: what the muxer
// writes, ffprobe identifies and ffmpeg decodes without complaint.
func TestFFmpegReadsMuxerOutput(t *testing.T) {
	video := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: 3, FPS: 30})
	audio := mpegtstest.EncodeOpus(t, 3)
	aac := mpegtstest.EncodeAAC(t, 3)
	tests := []struct {
		name       string
		cfg        mpegts.MuxerConfig
		video      []media.AccessUnit
		audio      []media.AccessUnit
		wantCodecs []string
	}{
		{"h264 and opus", mpegts.MuxerConfig{Video: true, Audio: mpegts.AudioOpus}, video, audio, []string{"h264", "opus"}},
		{"h264 only", mpegts.MuxerConfig{Video: true}, video, nil, []string{"h264"}},
		{"opus only", mpegts.MuxerConfig{Audio: mpegts.AudioOpus}, nil, audio, []string{"opus"}},
		{"h264 and aac", mpegts.MuxerConfig{Video: true, Audio: mpegts.AudioAAC}, video, aac, []string{"h264", "aac"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "out.ts", muxAUs(t, tt.cfg, tt.video, tt.audio))
			p := mpegtstest.FFprobe(t, path)
			var codecs []string
			for _, s := range p.Streams {
				codecs = append(codecs, s.CodecName)
			}
			if strings.Join(codecs, ",") != strings.Join(tt.wantCodecs, ",") {
				t.Errorf("codecs = %v, want %v", codecs, tt.wantCodecs)
			}
			for _, s := range p.Streams {
				want := len(tt.video)
				if s.CodecType == "audio" {
					want = len(tt.audio)
				}
				if s.NbFrames != itoa(want) {
					t.Errorf("%s frames = %s, want %d", s.CodecName, s.NbFrames, want)
				}
				if s.CodecType == "audio" && s.Channels != 2 {
					t.Errorf("%s channels = %d, want 2", s.CodecName, s.Channels)
				}
			}
			if d := p.Duration(); d < 2900*time.Millisecond || d > 3100*time.Millisecond {
				t.Errorf("duration = %v, want 3s", d)
			}
			if log := mpegtstest.Decode(t, path); log != "" {
				t.Errorf("ffmpeg decode logged:\n%s", log)
			}
		})
	}
}

// TestDemuxerReadsFFmpegOutput checks the demuxer and SplitOpus against
// ffmpeg's own muxer: the Opus packets come back byte for byte, and the
// Opus elementary stream (control headers included) is byte-identical to
// ours. ffmpeg's demuxer also reads Opus PES without control headers, so a
// clean decode alone would not prove the framing right; this does.
func TestDemuxerReadsFFmpegOutput(t *testing.T) {
	audio := mpegtstest.EncodeOpus(t, 1)
	video := mpegtstest.EncodeH264(t, mpegtstest.H264{Seconds: 1, FPS: 25})
	ours := muxAUs(t, mpegts.MuxerConfig{Video: true, Audio: mpegts.AudioOpus}, video, audio)
	in := writeTemp(t, "in.ts", ours)
	out := filepath.Join(t.TempDir(), "ffmpeg.ts")
	mpegtstest.Run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", in, "-c", "copy", "-f", "mpegts", out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var gotOpus [][]byte
	frames := 0
	for _, p := range demuxAll(t, data) {
		switch p.Codec {
		case media.CodecOpus:
			pkts, err := mpegts.SplitOpus(p.Data)
			if err != nil {
				t.Fatal(err)
			}
			gotOpus = append(gotOpus, pkts...)
		case media.CodecH264:
			frames++
		}
	}
	if frames != len(video) {
		t.Errorf("video PES = %d, want %d", frames, len(video))
	}
	if len(gotOpus) != len(audio) {
		t.Fatalf("opus packets = %d, want %d", len(gotOpus), len(audio))
	}
	for i := range audio {
		if !bytes.Equal(gotOpus[i], audio[i].Data) {
			t.Fatalf("opus packet %d differs", i)
		}
	}
	// ffmpeg packs several Opus packets into one PES; compare the streams.
	if o, f := opusES(t, ours), opusES(t, data); !bytes.Equal(o, f) {
		t.Errorf("Opus elementary streams differ: ours %d bytes, ffmpeg's %d", len(o), len(f))
	}
}

// opusES joins the payloads of the Opus PES packets in a transport stream.
func opusES(t *testing.T, ts []byte) []byte {
	var es []byte
	for _, p := range demuxAll(t, ts) {
		if p.Codec == media.CodecOpus {
			if p.StreamID != 0xBD {
				t.Errorf("Opus PES with stream_id %#x, want private_stream_1", p.StreamID)
			}
			es = append(es, p.Data...)
		}
	}
	return es
}
