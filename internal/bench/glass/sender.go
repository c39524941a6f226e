package glass

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/castnet/castnet/internal/media"
)

// connectTimeout bounds ICE and DTLS on loopback, which take milliseconds.
const connectTimeout = 10 * time.Second

// errNotConnected reports a PeerConnection that did not come up.
var errNotConnected = errors.New("glass: peer connection did not connect")

// sender is one publishing PeerConnection of the stamping publisher: to
// the node over WHIP, or straight to the floor's receiver.
type sender struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticSample
	session      string // the WHIP session URL; "" for the floor link
	connected    chan struct{}
	once         sync.Once
	readers      sync.WaitGroup
	remove       func() // stops the source sending here
}

// newSender builds a PeerConnection with a sendonly video and audio
// transceiver, as a WHIP offer has (RFC 9725 §4.2), whose PLIs and FIRs go
// to onPLI.
func newSender(api *webrtc.API, onPLI func()) (*sender, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	s := &sender{pc: pc, connected: make(chan struct{}), remove: func() {}}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			s.once.Do(func() { close(s.connected) })
		}
	})
	if s.video, err = s.addTrack(h264Codec(), "video", onPLI); err == nil {
		s.audio, err = s.addTrack(opusCodec(), "audio", func() {})
	}
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	return s, nil
}

func (s *sender) addTrack(c webrtc.RTPCodecCapability, id string, onPLI func()) (*webrtc.TrackLocalStaticSample, error) {
	t, err := webrtc.NewTrackLocalStaticSample(c, id, "glass")
	if err != nil {
		return nil, err
	}
	tr, err := s.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	s.readers.Add(1)
	go s.readRTCP(tr.Sender(), onPLI)
	return t, nil
}

// readRTCP passes keyframe requests on; reading RTCP also feeds the NACK
// responder, which answers the node's NACKs from its own cache.
func (s *sender) readRTCP(r *webrtc.RTPSender, onPLI func()) {
	defer s.readers.Done()
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				onPLI()
			}
		}
	}
}

// writeVideo stamps the access unit with its picture's capture time and
// sends it: encoding, packetizing, encrypting and sending are in every
// figure, as in a camera's.
func (s *sender) writeVideo(nalus [][]byte, _ bool, d time.Duration, captured time.Time) {
	au := media.AnnexB(insertStamp(nalus, stampSEI(captured)))
	_ = s.video.WriteSample(pmedia.Sample{Data: au, Duration: d})
}

func (s *sender) writeAudio(pkt []byte, d time.Duration) {
	_ = s.audio.WriteSample(pmedia.Sample{Data: pkt, Duration: d})
}

// waitConnected waits for ICE and DTLS.
func (s *sender) waitConnected(ctx context.Context) error {
	t := time.NewTimer(connectTimeout)
	defer t.Stop()
	select {
	case <-s.connected:
		return nil
	case <-t.C:
		return errNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops sending, ends the WHIP session and the PeerConnection.
func (s *sender) close(client *http.Client) {
	s.remove()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	deleteSession(ctx, client, s.session)
	_ = s.pc.Close()
	s.readers.Wait()
}

// publishWHIP publishes src to a WHIP endpoint.
func publishWHIP(ctx context.Context, api *webrtc.API, client *http.Client, endpoint string, src *source) (*sender, error) {
	s, err := newSender(api, src.requestKeyframe)
	if err != nil {
		return nil, err
	}
	err = s.offerTo(ctx, func(offer string) (string, error) {
		answer, session, err := postOffer(ctx, client, endpoint, offer)
		s.session = session
		return answer, err
	})
	if err != nil {
		s.close(client)
		return nil, fmt.Errorf("publish to %s: %w", endpoint, err)
	}
	s.remove = src.add(s)
	return s, nil
}

// offerTo negotiates with answer, which turns the offer into an answer,
// and waits for the connection.
func (s *sender) offerTo(ctx context.Context, answer func(offer string) (string, error)) error {
	offer, err := gatheredOffer(ctx, s.pc)
	if err != nil {
		return err
	}
	sdp, err := answer(offer)
	if err != nil {
		return err
	}
	if err := remoteAnswer(s.pc, sdp); err != nil {
		return err
	}
	return s.waitConnected(ctx)
}
