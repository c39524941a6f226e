package glass

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/castnet/castnet/internal/media"
)

// minRestart bounds how often the source restarts its GOP for PLIs: as
// often as the node sends them at most (one per 250 ms, docs/protocol.md).
const minRestart = 250 * time.Millisecond

// sink is where the source's media goes: one publishing PeerConnection.
type sink interface {
	// writeVideo sends one access unit whose picture was captured (drawn
	// and handed to the encoder) at captured.
	writeVideo(nalus [][]byte, keyframe bool, d time.Duration, captured time.Time)
	writeAudio(pkt []byte, d time.Duration)
}

// SourceStats counts what the publisher's encoder did.
type SourceStats struct {
	Frames   uint64 `json:"frames"`   // access units delivered to the sinks
	PLIs     uint64 `json:"plis"`     // keyframe requests from the sinks
	Restarts uint64 `json:"restarts"` // GOPs restarted to answer one
	Stale    uint64 `json:"stale"`    // frames of a replaced encoder dropped
}

// source is the stamping publisher's media: a generator ffmpeg drawing
// frames in real time, an x264 encoder of them, and a spare encoder that
// takes over when a PLI is to be answered, so that its first frame, an
// IDR, is the next picture.
type source struct {
	ffmpeg string
	log    *slog.Logger
	gen    *proc
	raw    io.ReadCloser // the generator's frames
	ogg    io.ReadCloser // its Opus
	answer atomic.Bool   // answer PLIs, as a browser does
	want   atomic.Bool   // a keyframe request waits
	wg     sync.WaitGroup

	mu     sync.Mutex
	sinks  map[sink]struct{}
	latest int // newest encoder generation whose frames were sent
	stats  SourceStats
}

// startSource starts the generator for at most d and the first encoders.
func startSource(ffmpeg string, d time.Duration, log *slog.Logger) (*source, error) {
	s := &source{ffmpeg: ffmpeg, log: log, sinks: map[sink]struct{}{}}
	s.answer.Store(true)
	oggR, oggW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(ffmpeg, generatorArgs(d)...)
	cmd.ExtraFiles = []*os.File{oggW}
	if s.raw, err = cmd.StdoutPipe(); err == nil {
		s.gen, err = startProc(cmd)
	}
	oggW.Close() // the child holds its own copy
	if err != nil {
		oggR.Close()
		return nil, err
	}
	s.ogg = oggR
	first, err := s.startEncoder(1)
	if err != nil {
		s.gen.stop()
		oggR.Close()
		return nil, err
	}
	s.wg.Add(2)
	go s.videoLoop(first)
	go s.audioLoop()
	return s, nil
}

// add starts sending to k; the returned func stops it.
func (s *source) add(k sink) (remove func()) {
	s.mu.Lock()
	s.sinks[k] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.sinks, k)
		s.mu.Unlock()
	}
}

// requestKeyframe is a sink's PLI or FIR.
func (s *source) requestKeyframe() {
	s.mu.Lock()
	s.stats.PLIs++
	s.mu.Unlock()
	if s.answer.Load() {
		s.want.Store(true)
	}
}

// setAnswerPLI switches between a browser's behaviour (a PLI restarts the
// GOP) and OBS's (PLIs are ignored; an IDR every 30 frames).
func (s *source) setAnswerPLI(on bool) {
	s.answer.Store(on)
	if !on {
		s.want.Store(false)
	}
}

// Stats returns the counters.
func (s *source) Stats() SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// close stops the generator, which ends both loops and the encoders.
func (s *source) close() {
	s.gen.stop()
	s.raw.Close()
	s.ogg.Close()
	s.wg.Wait()
}

// videoLoop hands each raw frame to the current encoder, switching to the
// spare first when a keyframe is wanted.
func (s *source) videoLoop(cur *encoder) {
	defer s.wg.Done()
	spare, _ := s.startEncoder(cur.gen + 1)
	frame := make([]byte, frameBytes)
	var last time.Time
	for {
		if _, err := io.ReadFull(s.raw, frame); err != nil {
			break
		}
		captured := time.Now() // the picture exists: the camera's moment
		if spare != nil && s.restartDue(&last) {
			cur.finish()
			cur = spare
			spare, _ = s.startEncoder(cur.gen + 1)
		}
		if err := cur.write(frame, captured); err != nil {
			s.log.Warn("glass: encoder stopped", "err", err, "stderr", cur.proc.stderr.String())
			break
		}
	}
	cur.finish()
	if spare != nil {
		spare.finish()
	}
}

// restartDue takes a pending keyframe request, unless the last restart was
// too recent: the request then waits for a later frame rather than being
// lost, as an encoder asked twice in a row still sends the IDR.
func (s *source) restartDue(last *time.Time) bool {
	if !s.want.Load() || time.Since(*last) < minRestart {
		return false
	}
	s.want.Store(false)
	*last = time.Now()
	s.mu.Lock()
	s.stats.Restarts++
	s.mu.Unlock()
	return true
}

// deliverVideo sends one access unit of encoder generation gen to every
// sink. Once a newer encoder's frame has gone out, an older one's last
// frames are stale: the IDR has replaced them.
func (s *source) deliverVideo(gen int, f flvFrame, captured time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen < s.latest {
		s.stats.Stale++
		return
	}
	s.latest = gen
	s.stats.Frames++
	for k := range s.sinks {
		k.writeVideo(f.NALUs, f.Keyframe, time.Second/srcFPS, captured)
	}
}

// audioLoop sends each Opus packet as the generator writes it.
func (s *source) audioLoop() {
	defer s.wg.Done()
	ogg, _, err := oggreader.NewWith(s.ogg)
	if err != nil {
		return
	}
	for {
		pkt, _, err := ogg.ParseNextPage()
		if err != nil {
			return
		}
		d, err := media.OpusPacketDuration(pkt)
		if err != nil || bytes.HasPrefix(pkt, []byte("OpusTags")) {
			continue
		}
		s.mu.Lock()
		for k := range s.sinks {
			k.writeAudio(pkt, d)
		}
		s.mu.Unlock()
	}
}

// encoder is one x264 process and the reader of its output. x264 with
// zerolatency and no B-frames puts out one access unit per frame, in
// order, so the capture times of the frames written are matched to its
// access units first in, first out.
type encoder struct {
	gen   int
	proc  *proc
	stdin io.WriteCloser
	once  sync.Once

	mu       sync.Mutex
	captured []time.Time
}

// capturedNext is the capture time of the encoder's next access unit.
func (e *encoder) capturedNext() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.captured) == 0 {
		return time.Now()
	}
	t := e.captured[0]
	e.captured = e.captured[1:]
	return t
}

// startEncoder starts generation gen's encoder; it waits for its first
// frame.
func (s *source) startEncoder(gen int) (*encoder, error) {
	cmd := exec.Command(s.ffmpeg, encoderArgs()...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := startProc(cmd)
	if err != nil {
		s.log.Warn("glass: no spare encoder", "err", err)
		return nil, err
	}
	e := &encoder{gen: gen, proc: p, stdin: stdin}
	s.wg.Add(1)
	go s.readEncoder(e, out)
	return e, nil
}

// readEncoder delivers an encoder's frames until its output ends.
func (s *source) readEncoder(e *encoder, out io.Reader) {
	defer s.wg.Done()
	defer e.proc.wait(killDelay)
	f, err := newFLVReader(out)
	for err == nil {
		var fr flvFrame
		if fr, err = f.next(); err == nil {
			s.deliverVideo(e.gen, fr, e.capturedNext())
		}
	}
	// Wait closes the pipe once the encoder exits: its last frames are
	// stale by then anyway.
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, os.ErrClosed) {
		s.log.Warn("glass: encoder output", "gen", e.gen, "err", err)
	}
}

func (e *encoder) write(frame []byte, captured time.Time) error {
	e.mu.Lock()
	e.captured = append(e.captured, captured)
	e.mu.Unlock()
	if _, err := e.stdin.Write(frame); err != nil {
		return fmt.Errorf("encoder %d: %w", e.gen, err)
	}
	return nil
}

// finish closes the encoder's input: it flushes and exits, and its reader
// ends at EOF.
func (e *encoder) finish() { e.once.Do(func() { e.stdin.Close() }) }
