package mpegtstest

import "github.com/castnet/castnet/internal/media/bitwrite"

// SPS returns a minimal Baseline H.264 sequence parameter set NAL unit
// (with its NAL header, without a start code) for a w × h picture (even
// sides), cropped from whole macroblocks: for tests that need a size read
// from the bytes (media.ParseSPS) without encoding video.
func SPS(w, h int) []byte {
	mbW, mbH := (w+15)/16, (h+15)/16
	var b bitwrite.Writer
	b.U(8, 66).U(8, 0xC0).U(8, 40) // Baseline, constrained, level 4
	b.UE(0).UE(0).UE(2).UE(1)      // id, log2_max_frame_num−4, POC type 2, one ref
	b.U(1, 0).UE(uint64(mbW - 1)).UE(uint64(mbH - 1))
	b.U(1, 1).U(1, 1)                           // frame_mbs_only, direct_8x8_inference
	right, bottom := (mbW*16-w)/2, (mbH*16-h)/2 // 4:2:0 crops in units of 2
	if right == 0 && bottom == 0 {
		b.U(1, 0)
	} else {
		b.U(1, 1).UE(0).UE(uint64(right)).UE(0).UE(uint64(bottom))
	}
	b.U(1, 0) // no VUI
	return append([]byte{0x67}, bitwrite.Escape(b.RBSP())...)
}
