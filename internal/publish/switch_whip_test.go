package publish

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/media"
)

// rtpLog keeps every packet a whipServer received, per kind.
type rtpLog struct {
	mu           sync.Mutex
	video, audio []*rtp.Packet
}

func (l *rtpLog) add(kind webrtc.RTPCodecType, pkt *rtp.Packet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if kind == webrtc.RTPCodecTypeVideo {
		l.video = append(l.video, pkt)
	} else {
		l.audio = append(l.audio, pkt)
	}
}

func (l *rtpLog) packets() (video, audio []*rtp.Packet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.video), slices.Clone(l.audio)
}

// sizeRun is a stretch of received frames at one picture size.
type sizeRun struct {
	size   Size
	frames int
}

// receivedFrames rebuilds the frames as the broadcaster's ingest does and
// returns their RTP timestamps and the runs of sizes their SPSs announced.
func receivedFrames(t *testing.T, pkts []*rtp.Packet) ([]uint32, []sizeRun) {
	d := media.NewH264Depacketizer()
	var stamps []uint32
	var runs []sizeRun
	for _, pkt := range pkts {
		for _, f := range d.Push(pkt).Frames {
			stamps = append(stamps, f.Timestamp)
			if size, ok := spsSize(t, f.NALUs); ok && (len(runs) == 0 || runs[len(runs)-1].size != size) {
				runs = append(runs, sizeRun{size: size})
			}
			if len(runs) > 0 {
				runs[len(runs)-1].frames++
			}
		}
	}
	return stamps, runs
}

// checkOneStream requires one SSRC, sequence numbers that only go up (a
// few lost on a busy machine at most) and timestamps that advance by
// step, give or take the tick pion rounds away.
func checkOneStream(t *testing.T, kind string, pkts []*rtp.Packet, stamps []uint32, step uint32) {
	t.Helper()
	lost := 0
	for i, p := range pkts[1:] {
		if p.SSRC != pkts[0].SSRC {
			t.Fatalf("%s packet %d has SSRC %d, want the stream's one %d", kind, i+1, p.SSRC, pkts[0].SSRC)
		}
		gap := p.SequenceNumber - pkts[i].SequenceNumber
		if gap == 0 || gap > 1<<15 {
			t.Fatalf("%s sequence goes from %d to %d", kind, pkts[i].SequenceNumber, p.SequenceNumber)
		}
		lost += int(gap) - 1
	}
	for i, ts := range stamps[1:] {
		d := ts - stamps[i]
		n := (d + step/2) / step
		if n == 0 || d+1 < n*step || d > n*step+1 {
			t.Fatalf("%s timestamp %d follows %d: want a step of %d", kind, ts, stamps[i], step)
		}
		lost += int(n) - 1
	}
	if lost > 3 {
		t.Errorf("%s: %d packets or frames missing on loopback", kind, lost)
	}
}

func TestPublishSwitchingPatternReachesTheReceiverOneSizeAfterAnother(t *testing.T) {
	needFFmpeg(t)
	srv := newWHIPServer(t)
	var log rtpLog
	srv.onRTP = log.add
	// 240p and 120p a second each, repeating: down, up and down again,
	// then half a second more.
	cfg := smallPattern(srv.url("cam"))
	cfg.Sizes = []Size{{320, 240}, {160, 120}}
	cfg.SwitchEvery = time.Second
	cfg.Duration = 3500 * time.Millisecond
	cfg.Logger = testLogger(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := Run(ctx, cfg); err != nil {
		t.Fatalf("Run: %v", err)
	}
	srv.close()
	video, audio := log.packets()
	if len(video) == 0 || len(audio) == 0 {
		t.Fatalf("received %d video and %d audio packets", len(video), len(audio))
	}

	stamps, runs := receivedFrames(t, video)
	checkOneStream(t, "video", video, stamps, 90000/30)
	wantSizes := []Size{{320, 240}, {160, 120}, {320, 240}, {160, 120}}
	var sizes []Size
	for _, r := range runs {
		sizes = append(sizes, r.size)
	}
	if !slices.Equal(sizes, wantSizes) {
		t.Fatalf("received sizes %v, want %v", runs, wantSizes)
	}
	t.Logf("received %d video frames in runs %v", len(stamps), runs)
	// The inner runs are whole seconds; the last is the half second left.
	for i, want := range []int{30, 30, 30, 15} {
		if got := runs[i].frames; got < want-3 || got > want {
			t.Errorf("run %d at %v: %d frames, want %d", i, runs[i].size, got, want)
		}
	}

	var audioStamps []uint32
	for _, p := range audio {
		audioStamps = append(audioStamps, p.Timestamp)
	}
	// Audio runs on through every switch in 20 ms packets.
	checkOneStream(t, "audio", audio, audioStamps, opusRate/50)
	if span := time.Duration(audioStamps[len(audioStamps)-1]-audioStamps[0]) * time.Second / opusRate; span < 3400*time.Millisecond {
		t.Errorf("audio spans %v of the 3.5 s", span)
	}
}
