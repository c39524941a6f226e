// Package rtpfeed plays a rendition's published segments into a relay
// in real time, for WHEP viewers of a transcoded rung: one ffmpeg reads
// the MPEG-TS segments as they are published, copies the H.264 into RTP
// and transcodes the AAC to Opus (WebRTC has no AAC), paced at the media's
// own rate (-re). Its RTP comes back over loopback UDP into the relay,
// which numbers it and fans it out like a publisher's. A viewer of a rung
// is behind the publisher by about a segment plus its turnaround: the rung
// exists only once the segment is transcoded.
package rtpfeed

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/pion/rtp"

	"github.com/castnet/castnet/internal/media"
	"github.com/castnet/castnet/internal/relay"
)

// queueSegments bounds the segments waiting for ffmpeg: it takes them at
// their play rate, so more than a few means it is stuck.
const queueSegments = 4

// Config configures a Feeder.
type Config struct {
	FFmpeg string // default "ffmpeg"
	Logger *slog.Logger
}

// Feeder is one rendition's ffmpeg and the relay it feeds.
type Feeder struct {
	log   *slog.Logger
	relay *relay.Relay
	src   *relay.Source
	cmd   *exec.Cmd
	conns [2]*net.UDPConn // video, audio
	queue chan []byte
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	// stderr keeps ffmpeg's complaints for the log line when it exits.
	stderr tailBuffer
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Start runs ffmpeg for a rendition.
func Start(cfg Config) (*Feeder, error) {
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Feeder{log: cfg.Logger, relay: relay.New(relay.Config{Logger: cfg.Logger}),
		queue: make(chan []byte, queueSegments), stop: make(chan struct{})}
	if err := f.listen(); err != nil {
		return nil, err
	}
	f.src = f.relay.Attach(nil) // ffmpeg cannot be asked for a keyframe: each segment starts with one
	f.src.SetCodec(media.KindVideo, relay.Codec{MimeType: "video/H264", ClockRate: 90000,
		Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"})
	f.src.SetCodec(media.KindAudio, relay.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2})
	if err := f.start(cfg.FFmpeg); err != nil {
		f.closeConns()
		return nil, err
	}
	return f, nil
}

// listen opens the loopback UDP ports ffmpeg sends to.
func (f *Feeder) listen() error {
	for i := range f.conns {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			f.closeConns()
			return fmt.Errorf("rtpfeed: %w", err)
		}
		f.conns[i] = c
	}
	return nil
}

// Args is the ffmpeg command line for sending to ports video and audio.
// RTCP goes to the same ports (rtcpport) and is skipped there.
func Args(video, audio int) []string {
	out := func(port int) string {
		return fmt.Sprintf("rtp://127.0.0.1:%d?rtcpport=%d&pkt_size=1200", port, port)
	}
	// -analyzeduration: ffmpeg probes 5 s of input by default before it
	// starts, which live segments take their own time to supply; the
	// first half second of the first one says all a rung can.
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-analyzeduration", "500000",
		"-re", "-f", "mpegts", "-i", "pipe:0",
		"-map", "0:v:0", "-c:v", "copy", "-f", "rtp", "-payload_type", "102", out(video),
		"-map", "0:a:0?", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "96000",
		"-f", "rtp", "-payload_type", "111", out(audio)}
}

func (f *Feeder) start(ffmpeg string) error {
	ports := [2]int{f.conns[0].LocalAddr().(*net.UDPAddr).Port, f.conns[1].LocalAddr().(*net.UDPAddr).Port}
	f.cmd = exec.Command(ffmpeg, Args(ports[0], ports[1])...)
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	f.cmd.Stderr = &f.stderr
	in, err := f.cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := f.cmd.Start(); err != nil {
		return fmt.Errorf("rtpfeed: start ffmpeg: %w", err)
	}
	f.wg.Add(4)
	go f.feed(in)
	go f.read(f.conns[0], media.KindVideo)
	go f.read(f.conns[1], media.KindAudio)
	go f.wait()
	return nil
}

// Relay is where viewers subscribe.
func (f *Feeder) Relay() *relay.Relay { return f.relay }

// Segment queues a published segment of the rendition; when ffmpeg is
// behind by queueSegments, the oldest queued one is dropped.
func (f *Feeder) Segment(ts []byte) {
	for {
		select {
		case f.queue <- ts:
			return
		case <-f.stop:
			return
		default:
		}
		select {
		case old := <-f.queue:
			f.log.Warn("rtpfeed: ffmpeg behind; a segment dropped", "bytes", len(old))
		default:
		}
	}
}

// feed writes queued segments to ffmpeg's stdin.
func (f *Feeder) feed(in io.WriteCloser) {
	defer f.wg.Done()
	defer in.Close()
	for {
		select {
		case <-f.stop:
			return
		case ts := <-f.queue:
			if _, err := in.Write(ts); err != nil {
				return
			}
		}
	}
}

// read forwards ffmpeg's RTP packets of one kind to the relay.
func (f *Feeder) read(c *net.UDPConn, kind media.Kind) {
	defer f.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if n < 2 || (buf[1] >= 200 && buf[1] <= 204) {
			continue // RTCP (RFC 5761 §4): ffmpeg's sender reports
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) == nil {
			f.src.Write(kind, &p)
		}
	}
}

// wait ends the feeder when ffmpeg exits.
func (f *Feeder) wait() {
	defer f.wg.Done()
	err := f.cmd.Wait()
	select {
	case <-f.stop:
	default:
		f.log.Warn("rtpfeed: ffmpeg exited", "err", err, "stderr", f.stderr.String())
	}
	f.shut()
}

// shut stops everything once; the relay closes, ending its viewers.
func (f *Feeder) shut() {
	f.once.Do(func() {
		close(f.stop)
		f.closeConns()
		if f.cmd.Process != nil {
			_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
		}
		f.relay.Close()
	})
}

func (f *Feeder) closeConns() {
	for _, c := range f.conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// Close stops ffmpeg and ends every viewer; it waits for the feeder's
// goroutines. Idempotent.
func (f *Feeder) Close() error {
	f.shut()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return errors.New("rtpfeed: ffmpeg did not exit")
	}
	return nil
}
