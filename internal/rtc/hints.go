package rtc

import (
	"fmt"
	"strings"
)

// Rate hints the node's answers give Chromium-based publishers, in kb/s
// (x-google-start-bitrate and x-google-max-bitrate on every H.264 fmtp).
//
// Chromium picks its first frame size from its start rate and its cap: at
// its defaults (300 kb/s, and about 2.5 Mb/s at 720p) it begins at 320x180
// to 640x360 and steps up only as its estimate grows, which even with
// transport-wide feedback takes it 14 to 16 s to reach the 1280x720 it was
// asked for. With both hints it begins at 1280x720, or reaches it within
// 4 s (BENCHMARKS.md, "browser ramp"); either hint alone does not help.
// The cap also bounds what a publisher spends on the source rendition.
const (
	StartBitrateKbps = 2500
	MaxBitrateKbps   = 4000
)

// AddRateHints appends the start and max rate hints to the fmtp line of
// every H.264 payload type in an SDP answer. pion answers with the offer's
// fmtp, so the hints have to be added to the text. Other browsers ignore
// them, as RFC 8866 §6.15 lets a receiver ignore fmtp parameters it does
// not know.
func AddRateHints(sdp string, startKbps, maxKbps int) string {
	lines := strings.Split(sdp, "\r\n")
	h264 := map[string]bool{}
	for _, l := range lines {
		if pt, codec, ok := rtpmap(l); ok && strings.EqualFold(codec, "H264/90000") {
			h264[pt] = true
		}
	}
	hint := fmt.Sprintf(";x-google-start-bitrate=%d;x-google-max-bitrate=%d", startKbps, maxKbps)
	for i, l := range lines {
		rest, isFmtp := strings.CutPrefix(l, "a=fmtp:")
		pt, params, _ := strings.Cut(rest, " ")
		if isFmtp && h264[pt] && !strings.Contains(params, "x-google-") {
			lines[i] = l + hint
		}
	}
	return strings.Join(lines, "\r\n")
}

// rtpmap splits "a=rtpmap:PT codec/rate[/channels]".
func rtpmap(line string) (pt, codec string, ok bool) {
	rest, found := strings.CutPrefix(line, "a=rtpmap:")
	if !found {
		return "", "", false
	}
	return strings.Cut(rest, " ")
}

// Answer is the text of an SDP answer as the node sends it: pion's, with
// the rate hints added.
func (r *RTC) Answer(sdp string) string {
	return AddRateHints(sdp, StartBitrateKbps, MaxBitrateKbps)
}
