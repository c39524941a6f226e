package glass

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/media"
)

// stampSample is one stamped access unit's glass-to-glass time.
type stampSample struct {
	At time.Time // arrival of its last packet (or of the HLS part's last byte)
	MS float64   // At − the stamp, in milliseconds
}

// viewer is a receiving PeerConnection: a WHEP viewer of the node or the
// floor's receiver of the publisher. Every viewer counts packets and loss;
// a measuring one also rebuilds access units and reads their stamps.
type viewer struct {
	pc       *webrtc.PeerConnection
	measure  bool
	session  string    // the WHEP session URL
	posted   time.Time // when the offer went out: join time starts here
	keyframe chan struct{}
	firstPkt chan struct{}
	wg       sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	dep       *media.H264Depacketizer
	joined    bool
	join      time.Duration // posted → first complete keyframe
	firstAge  float64       // ms: the age of that keyframe's stamp on arrival
	width     int           // from that keyframe's SPS
	samples   []stampSample
	unstamped uint64 // complete access units without a stamp
	broken    uint64 // access units the depacketizer dropped (a hole)
	gotPkt    bool
	video     lossCounter
	audio     lossCounter
}

func newViewer(api *webrtc.API, measure bool) (*viewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &viewer{pc: pc, measure: measure, keyframe: make(chan struct{}), firstPkt: make(chan struct{}),
		dep: media.NewH264Depacketizer()}
	pc.OnTrack(v.onTrack)
	return v, nil
}

// watchWHEP plays endpoint (POST /whep/{stream}) with a recvonly offer of
// video and audio, as a browser's WHEP player does.
func watchWHEP(ctx context.Context, api *webrtc.API, client *http.Client, endpoint string, measure bool) (*viewer, error) {
	v, err := newViewer(api, measure)
	if err != nil {
		return nil, err
	}
	if err := v.offerWHEP(ctx, client, endpoint); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

func (v *viewer) offerWHEP(ctx context.Context, client *http.Client, endpoint string) error {
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := v.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	offer, err := gatheredOffer(ctx, v.pc)
	if err != nil {
		return err
	}
	v.posted = time.Now()
	answer, session, err := postOffer(ctx, client, endpoint, offer)
	if err != nil {
		return err
	}
	v.session = session
	return remoteAnswer(v.pc, answer)
}

// linkFloor connects a new sender of src straight to a new measuring
// viewer: two PeerConnections on loopback, no node between them.
func linkFloor(ctx context.Context, pubAPI, viewAPI *webrtc.API, src *source) (*sender, *viewer, error) {
	s, err := newSender(pubAPI, src.requestKeyframe)
	if err != nil {
		return nil, nil, err
	}
	v, err := newViewer(viewAPI, true)
	if err == nil {
		v.posted = time.Now()
		err = s.offerTo(ctx, func(offer string) (string, error) { return gatheredAnswer(ctx, v.pc, offer) })
	}
	if err != nil {
		s.close(nil)
		if v != nil {
			v.close()
		}
		return nil, nil, fmt.Errorf("floor link: %w", err)
	}
	s.remove = src.add(s)
	return s, v, nil
}

func (v *viewer) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.wg.Add(2)
	v.mu.Unlock()
	go v.read(t)
	go v.drainRTCP(r)
}

func (v *viewer) read(t *webrtc.TrackRemote) {
	defer v.wg.Done()
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		v.onPacket(video, pkt, time.Now())
	}
}

// drainRTCP reads the sender reports, which the report interceptor needs
// to see for its receiver reports.
func (v *viewer) drainRTCP(r *webrtc.RTPReceiver) {
	defer v.wg.Done()
	for {
		if _, _, err := r.ReadRTCP(); err != nil {
			return
		}
	}
}

func (v *viewer) onPacket(video bool, pkt *rtp.Packet, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !video {
		v.audio.add(pkt.SequenceNumber, now)
		return
	}
	v.video.add(pkt.SequenceNumber, now)
	if !v.gotPkt {
		v.gotPkt = true
		close(v.firstPkt)
	}
	if !v.measure {
		return
	}
	res := v.dep.Push(pkt)
	v.broken += uint64(res.Dropped)
	for _, f := range res.Frames {
		v.onFrame(f, now)
	}
}

// onFrame measures one complete access unit; nothing before the first
// keyframe counts, since a player could not show it.
func (v *viewer) onFrame(f media.H264Frame, now time.Time) {
	stamp, ok := findStamp(f.NALUs)
	if !v.joined {
		if !f.Keyframe {
			return
		}
		v.joined, v.join = true, now.Sub(v.posted)
		if ok {
			v.firstAge = ms(now.Sub(stamp))
		}
		v.width = spsWidth(f.NALUs)
		close(v.keyframe)
	}
	if !ok {
		v.unstamped++
		return
	}
	v.samples = append(v.samples, stampSample{At: now, MS: ms(now.Sub(stamp))})
}

func spsWidth(nalus [][]byte) int {
	for _, n := range nalus {
		if media.NALUType(n) == 7 {
			if info, err := media.ParseSPS(n); err == nil {
				return info.Width
			}
		}
	}
	return 0
}

// waitFor waits for c (the first keyframe or packet) at most d.
func waitFor(ctx context.Context, c <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// joinInfo returns the join time, the first keyframe's age and the
// picture width once joined.
func (v *viewer) joinInfo() (time.Duration, float64, int, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.join, v.firstAge, v.width, v.joined
}

// samplesIn returns the glass-to-glass times of access units that arrived
// in [from, to).
func (v *viewer) samplesIn(from, to time.Time) []float64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return window(v.samples, from, to)
}

func window(samples []stampSample, from, to time.Time) []float64 {
	var out []float64
	for _, s := range samples {
		if !s.At.Before(from) && s.At.Before(to) {
			out = append(out, s.MS)
		}
	}
	return out
}

// values are the samples' times.
func values(samples []stampSample) []float64 {
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = s.MS
	}
	return out
}

// counts sums both tracks' accounting so far.
func (v *viewer) counts(now time.Time) LossCounts {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.video.snapshot(now).plus(v.audio.snapshot(now))
}

// frameCounts returns the access units seen without a stamp and those
// the depacketizer dropped.
func (v *viewer) frameCounts() (unstamped, broken uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.unstamped, v.broken
}

// close ends the PeerConnection and waits for the readers.
func (v *viewer) close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	_ = v.pc.Close()
	v.wg.Wait()
}

// leave ends the WHEP session first, so the node frees it at once.
func (v *viewer) leave(client *http.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	deleteSession(ctx, client, v.session)
	v.close()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
