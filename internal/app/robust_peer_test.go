package app

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
)

// rawPeer is a WHIP publisher whose RTP the test writes packet by packet.
// Its ICE runs over a socket the test can cut, to model a publisher whose
// network vanishes without a word.
type rawPeer struct {
	name         string
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticRTP
	conn         *cutConn
	mux          ice.UDPMux
	location     string
	client       *http.Client
	plis         atomic.Int64
	vsender      *webrtc.RTPSender
	readers      sync.WaitGroup
	closeOnce    sync.Once
}

// cutConn drops every datagram it is asked to send once cut: to the node
// the publisher falls silent, consent checks included (RFC 7675).
type cutConn struct {
	net.PacketConn
	cut atomic.Bool
}

func (c *cutConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.cut.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

func h264Cap() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
}

func opusCap() webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}
}

// clientAPI registers H.264 (packetization-mode 1) and Opus and sends
// sender reports, but answers no NACK: lost packets stay lost.
func clientAPI(t *testing.T, mux ice.UDPMux) *webrtc.API {
	me, ir := &webrtc.MediaEngine{}, &interceptor.Registry{}
	must(t, me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Cap(), PayloadType: 102}, webrtc.RTPCodecTypeVideo))
	must(t, me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCap(), PayloadType: 111}, webrtc.RTPCodecTypeAudio))
	must(t, webrtc.ConfigureRTCPReports(ir))
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// dial connects a rawPeer to /whip/{name}: the offer goes out with every
// candidate gathered, since a WHIP server cannot trickle (RFC 9725 §4.3).
func (n *robustNode) dial(t *testing.T, name string) *rawPeer {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	must(t, err)
	p := &rawPeer{name: name, conn: &cutConn{PacketConn: udp}, client: n.client}
	p.mux = webrtc.NewICEUDPMux(nil, p.conn)
	t.Cleanup(p.close)
	p.pc, err = clientAPI(t, p.mux).NewPeerConnection(webrtc.Configuration{})
	must(t, err)
	connected := make(chan struct{})
	var once sync.Once
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	p.video, p.audio = p.addTrack(t, h264Cap(), "video"), p.addTrack(t, opusCap(), "audio")
	answer := p.post(t, n.base+"/whip/"+name)
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("%s: answer: %v", name, err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not connected after 10 s", name)
	}
	return p
}

// addTrack adds a sendonly track and counts the PLIs that come back for it.
func (p *rawPeer) addTrack(t *testing.T, c webrtc.RTPCodecCapability, kind string) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	track, err := webrtc.NewTrackLocalStaticRTP(c, kind, "robust-"+p.name)
	must(t, err)
	tr, err := p.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	must(t, err)
	if kind == "video" {
		p.vsender = tr.Sender()
	}
	p.readers.Go(func() {
		for {
			pkts, _, err := tr.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, pkt := range pkts {
				if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
					p.plis.Add(1)
				}
			}
		}
	})
	return track
}

// post sends the complete offer and returns the answer.
func (p *rawPeer) post(t *testing.T, url string) string {
	t.Helper()
	offer, err := p.pc.CreateOffer(nil)
	must(t, err)
	gathered := webrtc.GatheringCompletePromise(p.pc)
	must(t, p.pc.SetLocalDescription(offer))
	<-gathered
	resp, err := p.client.Post(url, "application/sdp", strings.NewReader(p.pc.LocalDescription().SDP))
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusCreated || err != nil {
		t.Fatalf("%s: POST %s: %d %s (location: %v)", p.name, url, resp.StatusCode, body, err)
	}
	p.location = loc.String()
	return string(body)
}

// delete ends the session the polite way.
func (p *rawPeer) delete(t *testing.T) {
	req, _ := http.NewRequest(http.MethodDelete, p.location, nil)
	resp, err := p.client.Do(req)
	status := 0
	if err == nil {
		resp.Body.Close()
		status = resp.StatusCode
	}
	if status != http.StatusOK {
		t.Errorf("%s: DELETE: status %d, %v", p.name, status, err)
	}
}

func (p *rawPeer) close() {
	p.closeOnce.Do(func() {
		if p.pc != nil {
			_ = p.pc.Close()
		}
		p.readers.Wait()
		_ = p.mux.Close()
	})
}

// accessUnit is one frame of the clip in Annex B, parameter sets included.
type accessUnit struct {
	data []byte
	key  bool
	gop  int // which keyframe interval of the clip it belongs to
}

// encodeClip encodes 6 s of 320x240 test pattern with no B-frames and a
// keyframe each second, the way a browser's encoder would send it.
func encodeClip(t *testing.T, ffmpeg string) []accessUnit {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "6",
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-threads", "1",
		"-bf", "0", "-g", strconv.Itoa(clipGOP), "-keyint_min", strconv.Itoa(clipGOP), "-sc_threshold", "0",
		"-b:v", "300k", "-maxrate", "300k", "-bufsize", "300k",
		"-bsf:v", "h264_mp4toannexb", "-f", "h264", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
	}
	r, err := h264reader.NewReader(bytes.NewReader(out))
	must(t, err)
	var units []accessUnit
	var pending []byte // parameter sets wait for the slice they precede
	gop := -1
	for {
		nal, err := r.NextNAL()
		if err != nil {
			break
		}
		pending = append(append(pending, 0, 0, 0, 1), nal.Data...)
		if key := nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr; key || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr {
			if key {
				gop++
			}
			units, pending = append(units, accessUnit{data: pending, key: key, gop: gop}), nil
		}
	}
	if len(units) < 5*clipFPS || !units[0].key || gop < 4 {
		t.Fatalf("clip: %d frames, %d keyframes; want 6 s starting at an IDR", len(units), gop+1)
	}
	return units
}

// pace calls video once per frame interval and audio every 20 ms (one
// Opus packet) until d has passed.
func pace(d time.Duration, video func(frame int), audio func()) {
	vt, at := time.NewTicker(time.Second/clipFPS), time.NewTicker(20*time.Millisecond)
	defer vt.Stop()
	defer at.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
	for frame := 0; ; {
		select {
		case <-vt.C:
			video(frame)
			frame++
		case <-at.C:
			audio()
		case <-end.C:
			return
		}
	}
}

// sender numbers and writes a rawPeer's RTP packets.
type sender struct {
	p          *rawPeer
	rng        *rand.Rand
	vseq, aseq uint16
	ats        uint32
	held       *rtp.Packet
	dropped    int
	// What the publisher does wrong.
	noKeyframes, lossy, lie bool
}

func (s *sender) videoPacket(payload []byte, ts uint32, marker bool) *rtp.Packet {
	s.vseq++
	return &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: s.vseq, Timestamp: ts, Marker: marker},
		Payload: payload}
}

func (s *sender) audio(payload []byte, step uint32) {
	s.aseq++
	s.ats += step
	_ = s.p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: s.aseq, Timestamp: s.ats},
		Payload: payload})
}

// sendClip sends the clip in real time, looping, beside Opus silence (a
// CELT 20 ms frame, RFC 6716 §3.1), misbehaving as s is told to.
func sendClip(s *sender, c []accessUnit, d time.Duration) {
	var pay codecs.H264Payloader
	pace(d, func(frame int) {
		au, ts := c[frame%len(c)], uint32(frame*90000/clipFPS)
		if s.lie && frame > 0 && frame%clipFPS == 0 {
			s.report(ts, frame > clipFPS)
		}
		if s.noKeyframes && au.key {
			return
		}
		payloads := pay.Payload(1200, au.data)
		for i, pl := range payloads {
			s.sendVideo(s.videoPacket(pl, ts, i == len(payloads)-1), au)
		}
	}, func() { s.audio([]byte{0xf8, 0xff, 0xfe}, 960) })
}

// report sends a sender report (RFC 3550 §6.4.1) pairing the wall clock
// with RTP time ts, or when lying with an RTP time 3 hours before ts: after
// the honest first report, each lie contradicts the packets around it.
func (s *sender) report(ts uint32, lie bool) {
	if lie {
		ts -= 3 * 3600 * 90000
	}
	now := time.Now()
	// NTP counts seconds from 1900, 2208988800 s before Unix time (RFC 5905 §6).
	ntp := uint64(now.Unix()+2208988800)<<32 | uint64(now.Nanosecond())<<32/1e9
	_ = s.p.pc.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: uint32(s.p.vsender.GetParameters().Encodings[0].SSRC),
		NTPTime: ntp, RTPTime: ts}})
}

// sendVideo applies the network's misbehaviour. The keyframes of every
// other second are spared from loss so that some segments can be cut; the
// rest lose 10%, which breaks the other keyframes and many references. A
// swapped packet goes out after the next one, within a frame time, well
// inside the node's reordering delay.
func (s *sender) sendVideo(pkt *rtp.Packet, au accessUnit) {
	if s.lossy && !(au.key && au.gop%2 == 0) && s.rng.Float64() < lossRate {
		s.dropped++
		return
	}
	switch {
	case s.held != nil:
		_ = s.p.video.WriteRTP(pkt)
		_ = s.p.video.WriteRTP(s.held)
		s.held = nil
	case s.lossy && s.rng.Float64() < swapRate:
		s.held = pkt
	default:
		_ = s.p.video.WriteRTP(pkt)
	}
}

// sendGarbage sends RTP whose payloads break every rule of RFC 6184 (and
// of Opus on the audio track), with random markers and timestamp jumps,
// for publishFor.
func sendGarbage(s *sender, c []accessUnit) {
	rng := s.rng
	var pay codecs.H264Payloader
	stap := pay.Payload(1200, c[0].data)[0] // the clip's SPS and PPS
	pace(publishFor, func(frame int) {
		ts := uint32(frame * 90000 / clipFPS)
		for range 1 + rng.IntN(4) {
			switch rng.IntN(10) {
			case 0:
				ts = rng.Uint32() // a jump far beyond any real clock
			case 1:
				ts += uint32(rng.IntN(5 * 90000)) // a jump of up to 5 s
			}
			_ = s.p.video.WriteRTP(s.videoPacket(garbageNAL(rng, stap), ts, rng.IntN(2) == 0))
		}
	}, func() { s.audio(noise(rng, rng.IntN(300)), uint32(rng.IntN(4000))) })
}

// garbageNAL returns one malformed H.264 RTP payload.
func garbageNAL(rng *rand.Rand, stap []byte) []byte {
	switch rng.IntN(7) {
	case 0: // anything at all, empty included
		return noise(rng, rng.IntN(1401))
	case 1: // FU-A with random start/end bits and inner type
		return append([]byte{0x7c, byte(rng.Uint32())}, noise(rng, rng.IntN(1200))...)
	case 2: // STAP-A whose first length runs past the end
		return append([]byte{0x78, 0xff, 0xff}, noise(rng, rng.IntN(64))...)
	case 3: // STAP-A: a zero-length NAL, then one cut short
		return []byte{0x78, 0x00, 0x00, 0x00, 0x09, 0x67, 0x42}
	case 4: // the real SPS and PPS, so that the IDRs of noise below reach the segmenter and ffmpeg
		return stap
	case 5:
		return append([]byte{0x65}, noise(rng, rng.IntN(1200))...)
	default: // any NAL type, the forbidden bit included, with a noise body
		return append([]byte{byte(rng.Uint32())}, noise(rng, rng.IntN(1400))...)
	}
}

// must ends the test on a setup error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func noise(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
