package media

import (
	"fmt"
)

// Upper bounds that keep ParseSPS from accepting absurd pictures. Level 6.2
// (the largest) allows 139264 macroblocks per frame, which at the most
// extreme aspect ratio the standard permits (√(8·MaxFS) = 1055 macroblocks a
// side, H.264 Table A-1 note) is under 16896 pixels.
const (
	maxSPSMacroblocksPerSide = 1056
	maxPOCCycle              = 255
)

// SPSInfo is what castnet needs from an H.264 sequence parameter set
// (H.264 §7.3.2.1.1): the picture size after cropping, the profile and level
// for the RFC 6381 codec string, and the frame rate when the VUI carries it.
type SPSInfo struct {
	ProfileIDC      uint8 // profile_idc: 66 Baseline, 77 Main, 100 High, ...
	ConstraintFlags uint8 // constraint_set0_flag..constraint_set5_flag and the two reserved bits, as sent
	LevelIDC        uint8 // level_idc: ten times the level, 31 = level 3.1
	ID              uint32

	ChromaFormatIDC uint32 // 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4
	BitDepthLuma    uint32
	BitDepthChroma  uint32
	FrameMBsOnly    bool // false for interlaced (field or MBAFF) coding

	Width  int // luma samples after frame cropping
	Height int

	// SARWidth and SARHeight give the sample aspect ratio; 0 when the VUI
	// does not say.
	SARWidth, SARHeight uint32

	// NumUnitsInTick and TimeScale come from the VUI timing info; both are 0
	// when it is absent. See FrameRate.
	NumUnitsInTick uint32
	TimeScale      uint32
}

// CodecString returns the RFC 6381 §3.3 codec parameter for HLS and MSE, for
// example "avc1.64001f" (High profile, no constraints, level 3.1).
func (s SPSInfo) CodecString() string {
	return fmt.Sprintf("avc1.%02x%02x%02x", s.ProfileIDC, s.ConstraintFlags, s.LevelIDC)
}

// FrameRate returns frames per second from the VUI timing info, or 0 when
// the SPS does not carry it. H.264 §E.2.1 counts ticks in fields, so a frame
// lasts two ticks: x264 writes time_scale 60, num_units_in_tick 1 for 30 fps.
func (s SPSInfo) FrameRate() float64 {
	if s.NumUnitsInTick == 0 || s.TimeScale == 0 {
		return 0
	}
	return float64(s.TimeScale) / float64(2*uint64(s.NumUnitsInTick))
}

// ParseSPS parses an SPS NAL unit (with its one-byte NAL header, without a
// start code), removing emulation prevention bytes first. Errors wrap
// ErrInvalidSPS.
func ParseSPS(sps []byte) (SPSInfo, error) {
	if len(sps) < 4 {
		return SPSInfo{}, fmt.Errorf("%w: %d bytes", ErrInvalidSPS, len(sps))
	}
	if t := sps[0] & 0x1f; t != naluSPS || sps[0]&0x80 != 0 {
		return SPSInfo{}, fmt.Errorf("%w: NAL header %#02x is not an SPS", ErrInvalidSPS, sps[0])
	}
	p := spsParser{r: bitReader{buf: unescapeRBSP(sps[1:])}}
	info, err := p.parse()
	if err != nil {
		return SPSInfo{}, fmt.Errorf("%w: %w", ErrInvalidSPS, err)
	}
	return info, nil
}

// spsParser walks the SPS syntax; the first error sticks so the syntax can
// be read straight down like the table in the standard.
type spsParser struct {
	r   bitReader
	err error
}

func (p *spsParser) u(n int) uint32 {
	if p.err != nil {
		return 0
	}
	v, err := p.r.u(n)
	p.err = err
	return v
}

func (p *spsParser) flag() bool { return p.u(1) == 1 }

func (p *spsParser) ue() uint32 {
	if p.err != nil {
		return 0
	}
	v, err := p.r.ue()
	p.err = err
	return v
}

func (p *spsParser) se() int32 {
	if p.err != nil {
		return 0
	}
	v, err := p.r.se()
	p.err = err
	return v
}

// fail records a semantic error unless a read error came first.
func (p *spsParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

// hasChromaInfo lists the profiles whose SPS carries chroma_format_idc, bit
// depths and scaling matrices (H.264 §7.3.2.1.1).
func hasChromaInfo(profile uint8) bool {
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

func (p *spsParser) parse() (SPSInfo, error) {
	var s SPSInfo
	s.ProfileIDC = uint8(p.u(8))
	s.ConstraintFlags = uint8(p.u(8))
	s.LevelIDC = uint8(p.u(8))
	s.ID = p.ue()
	if s.ID > 31 {
		p.fail("seq_parameter_set_id %d > 31", s.ID)
	}
	separateColourPlanes := p.parseChroma(&s)
	p.parseFrameOrder()
	widthMBs := p.ue() + 1
	heightMapUnits := p.ue() + 1
	s.FrameMBsOnly = p.flag()
	if !s.FrameMBsOnly {
		p.u(1) // mb_adaptive_frame_field_flag
	}
	p.u(1) // direct_8x8_inference_flag
	p.parseSize(&s, widthMBs, heightMapUnits, separateColourPlanes)
	if p.flag() { // vui_parameters_present_flag
		p.parseVUI(&s)
	}
	if p.err != nil {
		return SPSInfo{}, p.err
	}
	return s, nil
}

// parseChroma reads the high-profile fields, defaulting to 8-bit 4:2:0 for
// the profiles that omit them. It reports separate_colour_plane_flag.
func (p *spsParser) parseChroma(s *SPSInfo) bool {
	s.ChromaFormatIDC, s.BitDepthLuma, s.BitDepthChroma = 1, 8, 8
	if !hasChromaInfo(s.ProfileIDC) {
		return false
	}
	separate := false
	s.ChromaFormatIDC = p.ue()
	if s.ChromaFormatIDC > 3 {
		p.fail("chroma_format_idc %d > 3", s.ChromaFormatIDC)
	}
	if s.ChromaFormatIDC == 3 {
		separate = p.flag()
	}
	luma, chroma := p.ue(), p.ue() // bit_depth_*_minus8
	if luma > 6 || chroma > 6 {
		p.fail("bit depth %d/%d above 14", luma+8, chroma+8)
	}
	s.BitDepthLuma, s.BitDepthChroma = luma+8, chroma+8
	p.u(1)        // qpprime_y_zero_transform_bypass_flag
	if p.flag() { // seq_scaling_matrix_present_flag
		lists := 8
		if s.ChromaFormatIDC == 3 {
			lists = 12
		}
		for i := range lists {
			if p.flag() { // seq_scaling_list_present_flag[i]
				size := 16
				if i >= 6 {
					size = 64
				}
				p.skipScalingList(size)
			}
		}
	}
	return separate
}

// skipScalingList reads scaling_list() (H.264 §7.3.2.1.1.1) only to get
// past it: castnet never needs the matrix itself.
func (p *spsParser) skipScalingList(size int) {
	last, next := int32(8), int32(8)
	for j := 0; j < size && p.err == nil; j++ {
		if next != 0 {
			delta := p.se()
			if delta < -128 || delta > 127 {
				p.fail("delta_scale %d out of range", delta)
			}
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}

// parseFrameOrder skips frame_num and picture order count syntax, checking
// the ranges that bound later loops.
func (p *spsParser) parseFrameOrder() {
	if v := p.ue(); v > 12 { // log2_max_frame_num_minus4
		p.fail("log2_max_frame_num_minus4 %d > 12", v)
	}
	switch pocType := p.ue(); pocType {
	case 0:
		if v := p.ue(); v > 12 { // log2_max_pic_order_cnt_lsb_minus4
			p.fail("log2_max_pic_order_cnt_lsb_minus4 %d > 12", v)
		}
	case 1:
		p.u(1) // delta_pic_order_always_zero_flag
		p.se() // offset_for_non_ref_pic
		p.se() // offset_for_top_to_bottom_field
		n := p.ue()
		if n > maxPOCCycle {
			p.fail("num_ref_frames_in_pic_order_cnt_cycle %d > %d", n, maxPOCCycle)
			return
		}
		for range n {
			p.se() // offset_for_ref_frame[i]
		}
	case 2:
	default:
		p.fail("pic_order_cnt_type %d > 2", pocType)
	}
	p.ue() // max_num_ref_frames
	p.u(1) // gaps_in_frame_num_value_allowed_flag
}

// parseSize reads frame cropping and computes the displayed size with the
// crop units of H.264 §7.4.2.1.1 (equations 7-19 to 7-22).
func (p *spsParser) parseSize(s *SPSInfo, widthMBs, heightMapUnits uint32, separateColourPlanes bool) {
	frameHeightMBs := uint64(heightMapUnits) // 64 bits: doubling must not wrap
	if !s.FrameMBsOnly {
		frameHeightMBs *= 2
	}
	// The sizes are coded minus 1, so a hostile maximum wraps the +1 to 0.
	if widthMBs == 0 || frameHeightMBs == 0 || widthMBs > maxSPSMacroblocksPerSide || frameHeightMBs > maxSPSMacroblocksPerSide {
		p.fail("picture of %dx%d macroblocks is empty or too large", widthMBs, frameHeightMBs)
		return
	}
	width, height := int(widthMBs)*16, int(frameHeightMBs)*16
	if p.flag() { // frame_cropping_flag
		unitX, unitY := cropUnits(s, separateColourPlanes)
		left, right, top, bottom := p.ue(), p.ue(), p.ue(), p.ue()
		// Compare in 64 bits: a hostile SPS can send crops near 2^32.
		cropX := (uint64(left) + uint64(right)) * uint64(unitX)
		cropY := (uint64(top) + uint64(bottom)) * uint64(unitY)
		if cropX >= uint64(width) || cropY >= uint64(height) {
			p.fail("cropping %d,%d removes the whole %dx%d picture", cropX, cropY, width, height)
			return
		}
		width -= int(cropX)
		height -= int(cropY)
	}
	s.Width, s.Height = width, height
}

// cropUnits returns CropUnitX and CropUnitY (H.264 equations 7-19 to 7-22).
func cropUnits(s *SPSInfo, separateColourPlanes bool) (int, int) {
	fieldFactor := 1
	if !s.FrameMBsOnly {
		fieldFactor = 2
	}
	if separateColourPlanes || s.ChromaFormatIDC == 0 { // ChromaArrayType 0
		return 1, fieldFactor
	}
	subWidth, subHeight := 1, 1
	switch s.ChromaFormatIDC {
	case 1:
		subWidth, subHeight = 2, 2
	case 2:
		subWidth = 2
	}
	return subWidth, subHeight * fieldFactor
}

// parseVUI reads the VUI up to the timing info (H.264 §E.1.1); the HRD and
// bitstream restriction fields after it are not needed. A VUI truncated
// before the timing info is tolerated: the size is already known.
func (p *spsParser) parseVUI(s *SPSInfo) {
	before := p.err
	defer func() {
		if before == nil && p.err != nil {
			s.SARWidth, s.SARHeight, s.NumUnitsInTick, s.TimeScale = 0, 0, 0, 0
			p.err = nil
		}
	}()
	if p.flag() { // aspect_ratio_info_present_flag
		s.SARWidth, s.SARHeight = sampleAspectRatio(p.u(8), p)
	}
	if p.flag() { // overscan_info_present_flag
		p.u(1)
	}
	if p.flag() { // video_signal_type_present_flag
		p.u(4) // video_format, video_full_range_flag
		if p.flag() {
			p.u(24) // colour_primaries, transfer_characteristics, matrix_coefficients
		}
	}
	if p.flag() { // chroma_loc_info_present_flag
		p.ue()
		p.ue()
	}
	if p.flag() { // timing_info_present_flag
		s.NumUnitsInTick = p.u(32)
		s.TimeScale = p.u(32)
	}
}

// sampleAspectRatio resolves aspect_ratio_idc with H.264 Table E-1, reading
// the explicit ratio for Extended_SAR (255).
func sampleAspectRatio(idc uint32, p *spsParser) (uint32, uint32) {
	if idc == 255 {
		return p.u(16), p.u(16)
	}
	table := [...][2]uint32{
		{0, 0}, {1, 1}, {12, 11}, {10, 11}, {16, 11}, {40, 33}, {24, 11}, {20, 11},
		{32, 11}, {80, 33}, {18, 11}, {15, 11}, {64, 33}, {160, 99}, {4, 3}, {3, 2}, {2, 1},
	}
	if int(idc) < len(table) {
		return table[idc][0], table[idc][1]
	}
	return 0, 0
}
