package media

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/media/bitwrite"
)

// testSPS describes an SPS for spsBytes, the encoder side of ParseSPS.
type testSPS struct {
	profile, constraints, level uint8
	chroma                      uint64 // written only for high profiles
	scalingLists                bool
	pocType                     uint64
	pocOffsets                  []int64 // poc type 1: non-ref, top-to-bottom, then the cycle
	widthMBs, heightMapUnits    uint64
	fieldCoding                 bool
	crop                        *[4]uint64
	timing                      *[2]uint64 // num_units_in_tick, time_scale
}

func spsBytes(s testSPS) []byte {
	w := &bitwrite.Writer{}
	w.U(8, uint64(s.profile)).U(8, uint64(s.constraints)).U(8, uint64(s.level)).UE(0)
	if hasChromaInfo(s.profile) {
		w.UE(s.chroma)
		if s.chroma == 3 {
			w.Flag(false)
		}
		w.UE(0).UE(0).Flag(false).Flag(s.scalingLists)
		if s.scalingLists {
			w.Flag(true) // list 0 present: deltas walk 8 → 9 → ... then 0 ends it
			for range 3 {
				w.SE(1)
			}
			w.SE(-11) // nextScale 0: "use default" from here on
			for range 7 {
				w.Flag(false)
			}
		}
	}
	w.UE(0).UE(s.pocType)
	switch s.pocType {
	case 0:
		w.UE(2)
	case 1:
		w.Flag(false).SE(s.pocOffsets[0]).SE(s.pocOffsets[1]).UE(uint64(len(s.pocOffsets) - 2))
		for _, o := range s.pocOffsets[2:] {
			w.SE(o)
		}
	}
	w.UE(1).Flag(false).UE(s.widthMBs - 1).UE(s.heightMapUnits - 1).Flag(!s.fieldCoding)
	if s.fieldCoding {
		w.Flag(false)
	}
	w.Flag(true).Flag(s.crop != nil)
	if s.crop != nil {
		for _, c := range s.crop {
			w.UE(c)
		}
	}
	w.Flag(s.timing != nil)
	if s.timing != nil {
		w.Flag(false).Flag(false).Flag(false).Flag(false).Flag(true)
		w.U(32, s.timing[0]).U(32, s.timing[1]).Flag(true)
		w.Flag(false).Flag(false).Flag(false).Flag(false) // no HRD, no pic_struct, no restriction
	}
	return append([]byte{0x67}, bitwrite.Escape(w.RBSP())...)
}

func TestParseSPS(t *testing.T) {
	tests := []struct {
		name          string
		sps           []byte
		width, height int
		codec         string
		fps           float64
	}{
		{"x264 High 720p30 with emulation prevention", mustHex(t, "6764001facd9405005bb0110000003001000000303c0f1831960"), 1280, 720, "avc1.64001f", 30},
		{"x264 Constrained Baseline 360p30", mustHex(t, "6742c01ed900a02ff970110000030001000003003c0f162e48"), 640, 360, "avc1.42c01e", 30},
		{"x264 Main 1080p30 crops 8 rows", mustHex(t, "674d4028eca03c0113f2e022000003000200000300781e30632c"), 1920, 1080, "avc1.4d4028", 30},
		{"baseline without VUI", spsBytes(testSPS{profile: 66, constraints: 0xe0, level: 31, widthMBs: 80, heightMapUnits: 45}), 1280, 720, "avc1.42e01f", 0},
		{"4:2:0 crop units are two samples", spsBytes(testSPS{profile: 100, chroma: 1, level: 30, widthMBs: 54, heightMapUnits: 30, crop: &[4]uint64{0, 5, 0, 0}}), 854, 480, "avc1.64001e", 0},
		{"4:2:2 crops single rows", spsBytes(testSPS{profile: 122, chroma: 2, level: 40, widthMBs: 40, heightMapUnits: 23, crop: &[4]uint64{1, 0, 0, 10}}), 638, 358, "avc1.7a0028", 0},
		{"4:4:4 crops single samples", spsBytes(testSPS{profile: 244, chroma: 3, level: 40, widthMBs: 41, heightMapUnits: 23, crop: &[4]uint64{0, 15, 0, 7}}), 641, 361, "avc1.f40028", 0},
		{"monochrome crops single samples", spsBytes(testSPS{profile: 100, chroma: 0, level: 30, widthMBs: 10, heightMapUnits: 10, crop: &[4]uint64{1, 1, 1, 1}}), 158, 158, "avc1.64001e", 0},
		{"field coding doubles map units and crop rows", spsBytes(testSPS{profile: 77, level: 40, widthMBs: 120, heightMapUnits: 34, fieldCoding: true, crop: &[4]uint64{0, 0, 0, 2}}), 1920, 1080, "avc1.4d0028", 0},
		{"scaling lists are skipped", spsBytes(testSPS{profile: 100, chroma: 1, level: 31, scalingLists: true, widthMBs: 80, heightMapUnits: 45, timing: &[2]uint64{1001, 60000}}), 1280, 720, "avc1.64001f", 60000.0 / 2002},
		{"poc type 1 with long offsets needs unescaping", spsBytes(testSPS{profile: 66, level: 31, pocType: 1, pocOffsets: []int64{1 << 15, 1 << 15, -3, 4}, widthMBs: 80, heightMapUnits: 45, timing: &[2]uint64{1, 50}}), 1280, 720, "avc1.42001f", 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSPS(tt.sps)
			if err != nil {
				t.Fatalf("ParseSPS(%x): %v", tt.sps, err)
			}
			if got.Width != tt.width || got.Height != tt.height {
				t.Errorf("size = %dx%d, want %dx%d", got.Width, got.Height, tt.width, tt.height)
			}
			if c := got.CodecString(); c != tt.codec {
				t.Errorf("CodecString() = %q, want %q", c, tt.codec)
			}
			if fps := got.FrameRate(); fps != tt.fps {
				t.Errorf("FrameRate() = %v, want %v", fps, tt.fps)
			}
		})
	}
}

func TestSPSVectorsExerciseEmulationPrevention(t *testing.T) {
	// Guard for the table above: if the writer stopped producing escapes,
	// the unescaping path would silently go untested.
	sps := spsBytes(testSPS{profile: 66, level: 31, pocType: 1, pocOffsets: []int64{1 << 15, 1 << 15, -3, 4}, widthMBs: 80, heightMapUnits: 45})
	if !bytes.Contains(sps, []byte{0, 0, 3}) {
		t.Fatalf("vector %x has no emulation prevention byte", sps)
	}
}

func TestParseSPSRejects(t *testing.T) {
	tests := []struct {
		name string
		sps  []byte
	}{
		{"empty", nil},
		{"a PPS", []byte{0x68, 0xee, 0x3c, 0x80}},
		{"forbidden bit set", []byte{0xe7, 0x42, 0xc0, 0x1e, 0xd9}},
		{"truncated after level", []byte{0x67, 0x64, 0x00, 0x1f}},
		{"truncated in the middle", mustHex(t, "6764001facd940")},
		{"cropping removes the picture", spsBytes(testSPS{profile: 66, level: 30, widthMBs: 2, heightMapUnits: 2, crop: &[4]uint64{8, 8, 0, 0}})},
		{"cropping near 2^32 does not wrap", spsBytes(testSPS{profile: 66, level: 30, widthMBs: 2, heightMapUnits: 2, crop: &[4]uint64{1 << 31, 1 << 31, 0, 0}})},
		{"picture too wide", spsBytes(testSPS{profile: 66, level: 30, widthMBs: 5000, heightMapUnits: 2})},
		{"chroma_format_idc 4", spsBytes(testSPS{profile: 100, chroma: 4, level: 30, widthMBs: 2, heightMapUnits: 2})},
		{"pic_order_cnt_type 3", spsBytes(testSPS{profile: 66, level: 30, pocType: 3, widthMBs: 2, heightMapUnits: 2})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ParseSPS(tt.sps); !errors.Is(err, ErrInvalidSPS) {
				t.Fatalf("ParseSPS(%x) = %+v, %v; want ErrInvalidSPS", tt.sps, got, err)
			}
		})
	}
}

// TestParseSPSFromX264 checks ParseSPS against what ffprobe reports for
// streams libx264 encodes at sizes that need cropping, several profiles,
// bit depths, chroma formats, interlacing and custom quantizer matrices.
func TestParseSPSFromX264(t *testing.T) {
	needFFmpeg(t)
	tests := []struct {
		name          string
		size, rate    string
		args          []string
		profile       uint8
		chroma        uint32
		depth         uint32
		frameMBsOnly  bool
		width, height int
		fps           float64
	}{
		{"720p High", "1280x720", "30", []string{"-pix_fmt", "yuv420p", "-profile:v", "high"}, 100, 1, 8, true, 1280, 720, 30},
		{"360p Baseline", "640x360", "30", []string{"-pix_fmt", "yuv420p", "-profile:v", "baseline"}, 66, 1, 8, true, 640, 360, 30},
		{"480p Main crops 10 columns", "854x480", "25", []string{"-pix_fmt", "yuv420p", "-profile:v", "main"}, 77, 1, 8, true, 854, 480, 25},
		{"1080p High crops 8 rows", "1920x1080", "30000/1001", []string{"-pix_fmt", "yuv420p"}, 100, 1, 8, true, 1920, 1080, 30000.0 / 1001},
		{"odd macroblock counts", "642x362", "30", []string{"-pix_fmt", "yuv420p"}, 100, 1, 8, true, 642, 362, 30},
		{"High 10", "640x360", "30", []string{"-pix_fmt", "yuv420p10le", "-profile:v", "high10"}, 110, 1, 10, true, 640, 360, 30},
		{"High 4:2:2", "640x358", "30", []string{"-pix_fmt", "yuv422p", "-profile:v", "high422"}, 122, 2, 8, true, 640, 358, 30},
		{"High 4:4:4 odd size", "641x361", "30", []string{"-pix_fmt", "yuv444p"}, 244, 3, 8, true, 641, 361, 30},
		{"interlaced 1080i", "1920x1080", "30", []string{"-pix_fmt", "yuv420p", "-x264-params", "interlaced=1"}, 100, 1, 8, false, 1920, 1080, 30},
		{"JVT scaling matrices", "1280x720", "30", []string{"-pix_fmt", "yuv420p", "-x264-params", "cqm=jvt"}, 100, 1, 8, true, 1280, 720, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := encodeH264(t, tt.size, tt.rate, 1, tt.args...)
			got, err := ParseSPS(firstNALU(t, stream, naluSPS))
			if err != nil {
				t.Fatal(err)
			}
			if got.Width != tt.width || got.Height != tt.height {
				t.Errorf("size = %dx%d, want %dx%d", got.Width, got.Height, tt.width, tt.height)
			}
			if got.ProfileIDC != tt.profile || got.ChromaFormatIDC != tt.chroma || got.BitDepthLuma != tt.depth || got.FrameMBsOnly != tt.frameMBsOnly {
				t.Errorf("profile %d chroma %d depth %d frame_mbs_only %v, want %d %d %d %v",
					got.ProfileIDC, got.ChromaFormatIDC, got.BitDepthLuma, got.FrameMBsOnly, tt.profile, tt.chroma, tt.depth, tt.frameMBsOnly)
			}
			if d := got.FrameRate() - tt.fps; d > 1e-9 || d < -1e-9 {
				t.Errorf("FrameRate() = %v, want %v", got.FrameRate(), tt.fps)
			}
			if level := ffprobeLevel(t, stream); int(got.LevelIDC) != level {
				t.Errorf("level_idc = %d, ffprobe says %d", got.LevelIDC, level)
			}
		})
	}
}

// ffprobeLevel asks ffprobe for the stream's level, an independent reading
// of the same SPS field.
func ffprobeLevel(t *testing.T, stream []byte) int {
	t.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-f", "h264", "-i", "-",
		"-show_entries", "stream=level", "-of", "default=nw=1:nk=1")
	cmd.Stdin = bytes.NewReader(stream)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	level, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe level %q: %v", out, err)
	}
	return level
}

func spsFuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, s := range []string{
		"6764001facd9405005bb0110000003001000000303c0f1831960",
		"6742c01ed900a02ff970110000030001000003003c0f162e48",
		"674d4028eca03c0113f2e022000003000200000300781e30632c",
	} {
		b, _ := hex.DecodeString(s)
		seeds = append(seeds, b)
	}
	return append(seeds,
		spsBytes(testSPS{profile: 244, chroma: 3, level: 40, scalingLists: true, widthMBs: 41, heightMapUnits: 23, crop: &[4]uint64{0, 15, 0, 7}}),
		spsBytes(testSPS{profile: 66, level: 31, pocType: 1, pocOffsets: []int64{1 << 15, 1 << 15, -3, 4}, widthMBs: 80, heightMapUnits: 45, fieldCoding: true, timing: &[2]uint64{1, 50}}),
	)
}

func FuzzParseSPS(f *testing.F) {
	for _, s := range spsFuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseSPS(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidSPS) {
				t.Fatalf("error %v does not wrap ErrInvalidSPS", err)
			}
			return
		}
		if info.Width <= 0 || info.Height <= 0 || info.Width > 16*maxSPSMacroblocksPerSide || info.Height > 16*maxSPSMacroblocksPerSide {
			t.Fatalf("impossible size %dx%d", info.Width, info.Height)
		}
		if c := info.CodecString(); len(c) != len("avc1.64001f") || !strings.HasPrefix(c, "avc1.") {
			t.Fatalf("CodecString() = %q", c)
		}
		if info.ChromaFormatIDC > 3 || info.BitDepthLuma < 8 || info.BitDepthLuma > 14 {
			t.Fatalf("chroma %d depth %d out of range", info.ChromaFormatIDC, info.BitDepthLuma)
		}
		// Parsing is a pure function of the bytes.
		if again, _ := ParseSPS(b); again != info {
			t.Fatalf("second parse %+v differs from %+v", again, info)
		}
	})
}
