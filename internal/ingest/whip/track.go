package whip

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/media"
)

// Reordering: packets may arrive out of order; wait this long for a missing
// one (NACK retransmissions usually land within a round trip) before
// declaring it lost. 512 packets covers a large keyframe.
const (
	reorderPackets = 512
	reorderDelay   = 150 * time.Millisecond
)

// RTPWriter is what a Sink also implements when it forwards the
// publisher's packets (WHEP playback): it is told each track's codec, and
// gets every RTP packet as it arrives, before reordering and
// depacketizing, so forwarding adds no delay. WriteRTP runs on the read
// path, must not block, and must not keep p (the reader reuses nothing,
// but the depacketizer reads it afterwards).
type RTPWriter interface {
	StartTrack(kind media.Kind, codec TrackCodec)
	WriteRTP(kind media.Kind, p *rtp.Packet)
}

// TrackCodec is a track's codec as negotiated with the publisher.
type TrackCodec struct {
	MimeType  string
	ClockRate uint32
	Channels  uint16
	Fmtp      string
}

// forward returns the sink's RTPWriter, nil if it has none.
func (ss *session) forward() RTPWriter {
	w, _ := ss.sink.(RTPWriter)
	return w
}

// onTrack starts the readers for a new remote track and its RTCP.
func (ss *session) onTrack(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	mime := strings.ToLower(tr.Codec().MimeType)
	var read func(*webrtc.TrackRemote, *media.TrackClock)
	switch {
	case mime == strings.ToLower(webrtc.MimeTypeH264) && ss.info.Video != "":
		ss.videoSSRC.Store(uint32(tr.SSRC()))
		read = ss.readVideo
	case mime == strings.ToLower(webrtc.MimeTypeOpus) && ss.info.Audio != "":
		read = ss.readAudio
	default:
		ss.log.Warn("ignoring unexpected track", "codec", mime)
		return
	}
	if !ss.track(2) {
		return
	}
	clock := ss.tl.Track(tr.Codec().ClockRate)
	if fw := ss.forward(); fw != nil {
		c := tr.Codec()
		fw.StartTrack(kindOf(tr.Kind()), TrackCodec{MimeType: c.MimeType, ClockRate: c.ClockRate,
			Channels: c.Channels, Fmtp: c.SDPFmtpLine})
	}
	ss.log.Info("track started", "kind", tr.Kind().String(), "codec", mime, "ssrc", uint32(tr.SSRC()))
	go ss.guard("rtp", func() { read(tr, clock) })
	go ss.guard("rtcp", func() { ss.readRTCP(recv, clock) })
	if tr.Kind() == webrtc.RTPCodecTypeVideo {
		ss.requestKeyframe() // start the stream at an IDR as soon as possible
	}
}

func kindOf(k webrtc.RTPCodecType) media.Kind {
	if k == webrtc.RTPCodecTypeAudio {
		return media.KindAudio
	}
	return media.KindVideo
}

// guard runs a reader; a panic from a publisher's bytes ends that session
// alone, never the node.
func (ss *session) guard(what string, fn func()) {
	defer ss.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			ss.log.Error("reader panicked; ending session", "reader", what, "panic", r, "stack", string(debug.Stack()))
			ss.close(fmt.Errorf("internal error reading %s", what))
		}
	}()
	fn()
}

// readVideo: RTP → reorder → H.264 frames → access units on stream time.
func (ss *session) readVideo(tr *webrtc.TrackRemote, clock *media.TrackClock) {
	rb := media.NewReorderBuffer(reorderPackets, reorderDelay, nil)
	dp := media.NewH264Depacketizer()
	fw := ss.forward()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			ss.emitVideo(dp.Flush(), clock)
			return
		}
		if fw != nil {
			fw.WriteRTP(media.KindVideo, pkt)
		}
		ss.received(&ss.stats.pktsVideo, len(pkt.Payload))
		rb.Push(pkt)
		for {
			p, lost := rb.Pop()
			if p == nil {
				break
			}
			if lost > 0 {
				ss.stats.lost.Add(uint64(lost))
			}
			ss.emitVideo(dp.Push(p), clock)
		}
	}
}

// received counts one RTP packet and stamps the media times the
// broadcaster and the media watch read.
func (ss *session) received(pkts *atomic.Uint64, payload int) {
	pkts.Add(1)
	ss.stats.bytes.Add(uint64(payload))
	now := time.Now().UnixNano()
	ss.stats.lastPacket.Store(now)
	if ss.stats.firstMedia.Load() == 0 {
		ss.stats.firstMedia.CompareAndSwap(0, now)
	}
}

func (ss *session) emitVideo(res media.H264Result, clock *media.TrackClock) {
	if res.Dropped > 0 {
		ss.stats.broken.Add(uint64(res.Dropped))
	}
	if res.KeyframeLost {
		ss.requestKeyframe()
	}
	for _, f := range res.Frames {
		au := f.AccessUnit(clock.Map(f.Timestamp, time.Now()))
		ss.write(au)
	}
}

// readAudio: each Opus RTP packet is one access unit (RFC 7587 §4.2).
func (ss *session) readAudio(tr *webrtc.TrackRemote, clock *media.TrackClock) {
	rb := media.NewReorderBuffer(64, reorderDelay, nil)
	fw := ss.forward()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if fw != nil {
			fw.WriteRTP(media.KindAudio, pkt)
		}
		ss.received(&ss.stats.pktsAudio, len(pkt.Payload))
		rb.Push(pkt)
		for {
			p, lost := rb.Pop()
			if p == nil {
				break
			}
			ss.stats.lost.Add(uint64(lost))
			ss.emitAudio(p, clock)
		}
	}
}

func (ss *session) emitAudio(p *rtp.Packet, clock *media.TrackClock) {
	if len(p.Payload) == 0 {
		return
	}
	d, err := media.OpusPacketDuration(p.Payload)
	if err != nil {
		ss.stats.broken.Add(1)
		return
	}
	ss.write(media.AccessUnit{Kind: media.KindAudio, Codec: media.CodecOpus,
		PTS: clock.Map(p.Timestamp, time.Now()), Data: p.Payload, Duration: d})
}

func (ss *session) write(au media.AccessUnit) {
	ss.sinkMu.Lock()
	defer ss.sinkMu.Unlock()
	ss.sink.WriteAccessUnit(au)
}

// readRTCP drains the receiver's RTCP (the interceptors need it read) and
// hands sender reports to the timeline for audio/video alignment.
func (ss *session) readRTCP(recv *webrtc.RTPReceiver, clock *media.TrackClock) {
	for {
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				clock.OnSenderReport(media.NTPTime(sr.NTPTime), sr.RTPTime)
			}
		}
	}
}
