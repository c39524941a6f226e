// Package media holds the codec-level vocabulary of castnet: access units,
// H.264 and Opus depacketizing, and the mapping of RTP timestamps onto one
// stream timeline. It knows nothing of WebRTC sessions, segments or HTTP.
package media

import "time"

// Kind says whether an access unit carries video or audio.
type Kind uint8

// The kinds of access unit.
const (
	KindVideo Kind = iota + 1
	KindAudio
)

func (k Kind) String() string {
	switch k {
	case KindVideo:
		return "video"
	case KindAudio:
		return "audio"
	}
	return "unknown"
}

// Codec names an elementary stream codec as castnet reports it.
type Codec string

// Codecs castnet ingests.
const (
	CodecH264 Codec = "h264"
	CodecOpus Codec = "opus"
)

// AccessUnit is one decodable unit of a track: a whole video frame or one
// audio packet.
//
// Video units hold NAL units without start codes (Annex B framing is added by
// whoever writes them out). A keyframe unit (IDR) always begins with the most
// recent SPS and PPS, even when the publisher sent them long before or in
// separate packets, so a segment cut there decodes on its own.
type AccessUnit struct {
	Kind     Kind
	Codec    Codec
	PTS      time.Duration // on the stream timeline shared by all tracks
	Keyframe bool          // video: an IDR frame, preceded by SPS and PPS
	NALUs    [][]byte      // video only
	Data     []byte        // audio only: one Opus packet
	Duration time.Duration // audio only: the packet's play time (from the Opus TOC)
}
