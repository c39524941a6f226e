package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/castnet/castnet/internal/debugsrv"
	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/rtc"
	"github.com/pion/webrtc/v4"
)

// ReceiverStats is what GET /api/stats of the bare receiver reports.
type ReceiverStats struct {
	Streams int    `json:"streams"` // sessions connected now
	Packets uint64 `json:"packets"` // RTP packets read, every session ever
	Bytes   uint64 `json:"bytes"`   // their payload bytes
	// Lost is the gaps in sequence numbers, counted as packets arrive.
	Lost uint64 `json:"lost"`
}

// Receiver is the ingest benchmark's bare baseline: a WHIP endpoint whose
// PeerConnections come from the same pion API as castnet's node (internal/
// rtc: codecs, NACK and RTCP report interceptors, one shared UDP port) and
// that only reads RTP and throws it away. What castnet spends beyond it is
// what castnet does with the packets: depacketizing, segmenting, muxing,
// writing and publishing.
type Receiver struct {
	rtc      *rtc.RTC
	log      *slog.Logger
	mu       sync.Mutex
	sessions map[string]*webrtc.PeerConnection
	closed   bool
	stats    struct{ packets, bytes, lost atomic.Uint64 }
	wg       sync.WaitGroup
}

// RunReceiver is `castnet bench receiver`: it serves until ctx ends.
func RunReceiver(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("castnet bench receiver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "127.0.0.1:0", "HTTP address for WHIP and /api/stats")
	udp := fs.String("webrtc-udp", "127.0.0.1:0", "the single UDP address all WebRTC media uses")
	debug := fs.String("debug-addr", "", "loopback address for /debug/pprof/ and /debug/runtime")
	fs.String("log-level", "info", "ignored; the receiver logs only its start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := NewReceiver(*udp, log)
	if err != nil {
		return err
	}
	defer r.Close()
	srv, err := httpx.Listen(*httpAddr, r.Handler(), log)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *debug != "" {
		dbg, err := httpx.Listen(*debug, debugsrv.Handler(log), log)
		if err != nil {
			return err
		}
		defer dbg.Close()
		log.Info("debug endpoints up", "pprof", "http://"+dbg.Addr().String()+"/debug/pprof/")
	}
	log.Info("castnet bench receiver is up", "url", "http://"+srv.Addr().String())
	<-ctx.Done()
	return nil
}

// NewReceiver opens the UDP port.
func NewReceiver(udpAddr string, log *slog.Logger) (*Receiver, error) {
	r, err := rtc.New(rtc.Config{UDPAddr: udpAddr, Logger: log})
	if err != nil {
		return nil, err
	}
	return &Receiver{rtc: r, log: log, sessions: map[string]*webrtc.PeerConnection{}}, nil
}

// Handler serves POST /whip/{stream}, DELETE /whip/{stream}/{id} and GET
// /api/stats.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /whip/{stream}", httpx.Handle(r.log, r.offer))
	mux.Handle("DELETE /whip/{stream}/{id}", httpx.Handle(r.log, func(w http.ResponseWriter, req *http.Request) error {
		if !r.end(req.PathValue("id")) {
			return fmt.Errorf("no session %q: %w", req.PathValue("id"), httpx.ErrNotFound)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}))
	mux.Handle("GET /api/stats", httpx.Handle(r.log, func(w http.ResponseWriter, req *http.Request) error {
		return httpx.WriteJSON(w, r.Stats())
	}))
	return mux
}

func (r *Receiver) offer(w http.ResponseWriter, req *http.Request) error {
	sdp, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("offer: %v: %w", err, httpx.ErrBadRequest)
	}
	pc, err := r.rtc.API().NewPeerConnection(r.rtc.Configuration())
	if err != nil {
		return err
	}
	id := newID()
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { r.read(t) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateDisconnected {
			r.end(id)
		}
	})
	answer, err := negotiate(pc, string(sdp))
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("offer: %v: %w", err, httpx.ErrBadRequest)
	}
	r.mu.Lock()
	r.sessions[id] = pc
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whip/"+req.PathValue("stream")+"/"+id)
	w.WriteHeader(http.StatusCreated)
	_, err = io.WriteString(w, answer)
	return err
}

// negotiate answers with every candidate gathered (no trickle).
func negotiate(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return "", errors.New("ICE gathering did not complete")
	}
	return pc.LocalDescription().SDP, nil
}

// read discards a track's RTP, counting packets and sequence gaps.
func (r *Receiver) read(t *webrtc.TrackRemote) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.wg.Add(1) // under mu, so never after Close began waiting
	r.mu.Unlock()
	defer r.wg.Done()
	var last uint16
	first := true
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if !first {
			if gap := p.SequenceNumber - last - 1; gap > 0 && gap < 1<<15 {
				r.stats.lost.Add(uint64(gap))
			}
		}
		if first || int16(p.SequenceNumber-last) > 0 {
			last, first = p.SequenceNumber, false
		}
		r.stats.packets.Add(1)
		r.stats.bytes.Add(uint64(len(p.Payload)))
	}
}

func (r *Receiver) end(id string) bool {
	r.mu.Lock()
	pc, ok := r.sessions[id]
	delete(r.sessions, id)
	r.mu.Unlock()
	if ok {
		go func() { _ = pc.Close() }()
	}
	return ok
}

// Stats reports the counters.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	n := len(r.sessions)
	r.mu.Unlock()
	return ReceiverStats{Streams: n, Packets: r.stats.packets.Load(), Bytes: r.stats.bytes.Load(), Lost: r.stats.lost.Load()}
}

// Close ends every session and releases the port.
func (r *Receiver) Close() error {
	r.mu.Lock()
	pcs := r.sessions
	r.sessions, r.closed = map[string]*webrtc.PeerConnection{}, true
	r.mu.Unlock()
	for _, pc := range pcs {
		_ = pc.Close()
	}
	r.wg.Wait()
	return r.rtc.Close()
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
