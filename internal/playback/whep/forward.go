package whep

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/relay"
)

// Retransmission budget per viewer: a viewer on a lossy path asks for a
// few percent of ~300 packets/s; a viewer that NACKs everything it can
// name is answered with at most this many, so it cannot turn the node into
// an amplifier.
const (
	nackRate  = 300 // packets per second
	nackBurst = 300
	// pliInterval rate-limits one viewer's keyframe requests; the
	// publisher's session limits them across viewers as well.
	pliInterval = 500 * time.Millisecond
)

// play subscribes the connected viewer and forwards its queue until the
// stream ends or the session closes.
func (ss *session) play() {
	sub, err := ss.relay.Subscribe()
	if err != nil {
		ss.close(ErrStreamEnded)
		return
	}
	defer sub.Close()
	f := &forwarder{ss: ss, sub: sub, budget: newBucket(nackRate, nackBurst)}
	ss.mu.Lock()
	ss.fwd = f
	ss.mu.Unlock()
	for {
		select {
		case p, ok := <-sub.C():
			if !ok {
				ss.close(ErrStreamEnded)
				return
			}
			f.send(p)
		case <-ss.ctx.Done():
			return
		}
	}
}

// forwarder writes relay packets onto the viewer's tracks.
type forwarder struct {
	ss     *session
	sub    *relay.Sub
	budget *bucket
}

// send rewrites p onto the viewer's numbering and writes it; pion sets the
// SSRC and payload type of the viewer's binding.
func (f *forwarder) send(p *relay.Packet) {
	t := f.ss.tracks[p.Kind]
	if t == nil {
		return
	}
	h := p.Header
	h.SequenceNumber += t.seqOff
	h.Timestamp += t.tsOff
	if err := t.local.WriteRTP(&rtp.Packet{Header: h, Payload: p.Payload}); err == nil {
		f.ss.stats.sent.Add(1)
	}
}

// forwarderNow is the session's forwarder once it plays, else nil.
func (ss *session) forwarderNow() *forwarder {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.fwd
}

// readRTCP answers a track's NACKs from the relay's cache and passes its
// keyframe requests on to the publisher.
func (ss *session) readRTCP(t *outTrack) {
	var lastPLI time.Time
	for {
		pkts, _, err := t.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				ss.answerNack(t, p)
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if t.kind == media.KindVideo && time.Since(lastPLI) >= pliInterval {
					lastPLI = time.Now()
					ss.stats.plis.Add(1)
					ss.relay.RequestKeyframe()
				}
			}
		}
	}
}

// answerNack resends what the cache holds of the packets a viewer lost
// (RFC 4585 §6.2.1), within the viewer's budget.
func (ss *session) answerNack(t *outTrack, n *rtcp.TransportLayerNack) {
	f := ss.forwarderNow()
	if f == nil {
		return
	}
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			if !f.budget.take() {
				ss.stats.nackRefused.Add(1)
				continue
			}
			p := f.sub.Retransmit(t.kind, seq-t.seqOff)
			if p == nil {
				ss.stats.nackMisses.Add(1)
				continue
			}
			f.send(p)
			ss.stats.retransmitted.Add(1)
		}
	}
}

// bucket is a token bucket.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

func (b *bucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
