package broadcaster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/segment"
	"github.com/castnet/castnet/internal/transcode"
)

// pending is a segment on its way to playback. Segments are transcoded
// concurrently but published strictly in order.
type pending struct {
	seg        *segment.Segment
	prev       *segment.Segment // the stream's segment before seg, nil for the first
	src        source
	rungs      []transcode.Profile
	done       chan struct{}
	renditions map[string][]byte
	failed     error // why the ladder is missing, if it is
	// order names the renditions as the transcoder returned them, and
	// proof is their signed receipt ("" when unsigned): the custody log.
	order []string
	proof string
	asked []transcode.Profile // the profiles of the job that made the renditions
	// drop says the segment is not published: see lastFrame.
	drop bool
	// ll cuts the renditions into LL-HLS parts as they stream back.
	ll *segmentParts
}

// onSegment runs on the segmenter's goroutine when a segment opens: its
// transcode starts now, while the segment is still growing, so ffmpeg works
// in step with the publisher.
func (st *Stream) onSegment(seg *segment.Segment) {
	st.mu.Lock()
	if st.rungs == nil {
		st.rungs = transcode.SessionLadder(st.b.cfg.Profiles, st.src.width, st.src.height)
	}
	p := &pending{seg: seg, prev: st.lastSeg, src: st.src, rungs: st.rungs, done: make(chan struct{}),
		ll: st.newSegmentParts(seg.Seq)}
	st.lastSeg = seg
	st.stats.segments++
	over := st.inFlight >= st.b.cfg.MaxInFlight
	if !over {
		st.inFlight++
	} else {
		st.stats.skipped++
	}
	st.mu.Unlock()
	select {
	case st.queue <- p:
	default:
		st.setError(fmt.Errorf("segment %d dropped: publishing is %d segments behind", seg.Seq, cap(st.queue)))
		return
	}
	if over {
		p.rungs = []transcode.Profile{transcode.SourceProfile()}
		p.failed = fmt.Errorf("transcoder busy: %d segments in flight", st.b.cfg.MaxInFlight)
		st.log.Warn("transcoder busy; publishing this segment as source only", "seq", seg.Seq,
			"in_flight", st.b.cfg.MaxInFlight)
	}
	go st.process(p, !over)
}

func (st *Stream) process(p *pending, counted bool) {
	defer close(p.done)
	if counted {
		defer func() {
			st.mu.Lock()
			st.inFlight--
			st.mu.Unlock()
		}()
	}
	if st.b.cfg.SourceOnly {
		<-p.seg.Done()
		p.renditions = map[string][]byte{transcode.SourceName: p.seg.Bytes()}
		p.order, p.asked = []string{transcode.SourceName}, p.rungs
		return
	}
	p.rungs = st.cappedRungs(p)
	ctx, cancel := context.WithTimeout(st.b.ctx, st.b.cfg.TranscodeTimeout)
	defer cancel()
	rends, err := st.b.cfg.Transcoder.Transcode(ctx, transcode.Job{
		Stream: st.pub.Stream, Seq: p.seg.Seq, Input: p.seg.NewReader(), InputDone: p.seg.Done(),
		Reopen: p.seg.NewReader, Duration: p.seg.Duration, Profiles: p.rungs,
		SourceWidth: p.src.width, SourceHeight: p.src.height, Payer: st.pub.Payer,
		Partial: p.ll.partial(),
	})
	<-p.seg.Done()
	p.asked = p.rungs
	p.ll.finish(p.seg.Duration(), err != nil)
	if err != nil && st.lastFrame(p) {
		p.drop = true
		return
	}
	if err != nil && len(p.rungs) > 1 {
		st.noteFailure(p.seg.Seq, err)
		p.failed = err
		// The source pass gets a deadline of its own: the ladder may have
		// failed by using up the first one.
		sctx, scancel := context.WithTimeout(st.b.ctx, 2*st.b.cfg.Segment+10*time.Second)
		defer scancel()
		p.asked = []transcode.Profile{transcode.SourceProfile()}
		rends, err = st.b.cfg.Transcoder.Transcode(sctx, transcode.Job{
			Stream: st.pub.Stream, Seq: p.seg.Seq, Input: bytes.NewReader(p.seg.Bytes()),
			Duration:    p.seg.Duration,
			Profiles:    p.asked,
			SourceWidth: p.src.width, SourceHeight: p.src.height, Payer: st.pub.Payer,
		})
	}
	p.renditions = map[string][]byte{}
	if err != nil {
		// Even the source pass failed: publish the segment as received.
		// Its video plays; its Opus audio may not in every player.
		st.noteFailure(p.seg.Seq, err)
		p.renditions[transcode.SourceName] = p.seg.Bytes()
		return
	}
	for _, r := range rends {
		p.renditions[r.Profile.Name] = r.Data
		p.order = append(p.order, r.Profile.Name)
	}
	if len(rends) > 0 {
		p.proof = rends[0].Proof
	}
}

// lastFrame says p is the stream's final segment and holds a single video
// frame: a publisher that stops just after a keyframe leaves one. ffmpeg's
// fps filter makes no frame from a lone input frame, so the ladder fails
// it, and publishing it would leave every rung ending on a fallback to the
// source's picture for one frame. It is dropped instead (one frame, at the
// very end), and the drop logged.
func (st *Stream) lastFrame(p *pending) bool {
	if !st.closing.Load() {
		return false
	}
	return scanVideo(p.seg.Bytes()).frames <= 1
}

func (st *Stream) noteFailure(seq uint64, err error) {
	st.mu.Lock()
	st.stats.transcodeFailures++
	st.lastError = fmt.Sprintf("segment %d: %v", seq, err)
	st.mu.Unlock()
	st.log.Warn("transcode failed; publishing source", "seq", seq, "err", err)
}

// publishLoop hands finished segments to playback in sequence order and
// ends the playlists when the stream is over.
func (st *Stream) publishLoop() {
	defer st.pubWG.Done()
	for p := range st.queue {
		<-p.done
		if p.drop {
			st.log.Info("final one-frame segment dropped", "seq", p.seg.Seq)
			continue
		}
		st.noteOutcome(p, st.publish(p))
	}
	st.mu.Lock()
	h := st.hls
	st.state = StateEnded
	st.endedAt = st.b.cfg.Now()
	st.letGoOfSession()
	ended := st.endedAt
	st.mu.Unlock()
	st.b.retire(st, ended)
	if st.b.afterLast(st, h) {
		st.endPlaylists(h)
	}
	close(st.drained)
	st.log.Info("stream ended", "segments", st.stats.published)
}

// noteOutcome counts a segment's fate: one playback could not store is a
// failed segment, and the stream's storage is failing until one is
// stored again.
func (st *Stream) noteOutcome(p *pending, err error) {
	st.mu.Lock()
	st.storageFailing = errors.Is(err, hls.ErrStorage)
	if err != nil {
		st.stats.failed++
	}
	st.mu.Unlock()
	if err != nil {
		st.setError(fmt.Errorf("publish segment %d: %w", p.seg.Seq, err))
	}
}

func (st *Stream) publish(p *pending) error {
	if len(p.seg.Bytes()) == 0 {
		return errors.New("empty segment")
	}
	h, err := st.playlist(p)
	if err != nil {
		return err
	}
	if err := h.AddSegmentAt(p.seg.Seq, p.seg.Opened, p.seg.Duration(), p.renditions); err != nil {
		return err
	}
	st.feeds.segment(p.renditions)
	if c := st.b.cfg.Custody; c != nil {
		why := ""
		if p.failed != nil {
			why = p.failed.Error()
		}
		cu := Custody{Dir: h.Dir(), Stream: st.pub.Stream, Seq: p.seg.Seq, Source: p.seg.Bytes(),
			Names: p.order, Profiles: p.asked, Proof: p.proof, Why: why, Payer: st.pub.Payer}
		if st.b.cfg.SourceOnly {
			cu.SourceFile = h.SegmentPath(transcode.SourceName, p.seg.Seq)
		}
		if err := c(cu); err != nil {
			st.log.Error("custody log", "seq", p.seg.Seq, "err", err)
		}
	}
	st.mu.Lock()
	st.stats.published++
	if at := p.seg.FinishedAt(); !at.IsZero() {
		st.stats.turnaround.add(time.Since(at))
	}
	if p.failed != nil && len(st.rungs) > 1 {
		st.stats.sourceOnly++
	}
	if st.stats.firstPublished.IsZero() {
		st.stats.firstPublished = time.Now()
		st.log.Info("first segment playable", "since_first_keyframe",
			st.stats.firstPublished.Sub(st.stats.firstKeyframe).Round(time.Millisecond))
	}
	st.mu.Unlock()
	return nil
}

// playlist opens the stream's playback at its first segment, and
// afterwards re-declares the renditions whenever a segment carries more
// than they declared (a source ramping up to its full size, a new SPS).
func (st *Stream) playlist(p *pending) (*hls.Stream, error) {
	st.observe(p)
	st.mu.Lock()
	h, old, vs, pred := st.hls, st.variants, st.declaredVariants(), st.pred
	st.pred = nil
	st.mu.Unlock()
	if h == nil && pred != nil {
		h = st.continuePlaylists(pred)
	}
	var err error
	switch {
	case h == nil:
		h, err = st.b.cfg.Store.Open(st.pub.Stream, vs)
	case !slices.Equal(old, vs):
		err = h.SetVariants(vs)
		st.log.Info("renditions re-declared", "seq", p.seg.Seq, "variants", variantSummary(vs))
	}
	if err != nil {
		return h, err
	}
	st.mu.Lock()
	st.hls, st.variants = h, vs
	st.mu.Unlock()
	return h, nil
}

// variantSummary is a short log form: name WxH@fps codecs.
func variantSummary(vs []hls.Variant) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s %dx%d@%.3g %s", v.Name, v.Width, v.Height, v.FrameRate, v.Codecs))
	}
	return out
}

// firstRateWait bounds how long the first segment's ladder waits for a
// measured source bitrate (see cappedRungs).
const firstRateWait = 1500 * time.Millisecond

// cappedRungs is p's rungs with capBitrates applied at the source's rate.
// The first segment has no earlier one to measure, so its ladder waits
// until the received bitrate's first one-second window closes (bounded by
// firstRateWait and by the segment's end): uncapped, a rung of that
// segment would spend the profile's full bitrate on a picture the source
// sent with fewer bits, and the first multivariant playlist would rank it
// above the source.
func (st *Stream) cappedRungs(p *pending) []transcode.Profile {
	if len(p.rungs) <= 1 {
		return p.rungs
	}
	rate, rated := st.rateNow(p)
	if rate == 0 {
		deadline := time.NewTimer(firstRateWait)
		defer deadline.Stop()
		select {
		case <-rated:
		case <-p.seg.Done():
			return capBitrates(p.rungs, float64(p.seg.Len()*8)/max(p.seg.Duration().Seconds(), 0.001), p.src.width, p.src.height)
		case <-deadline.C:
			return p.rungs
		}
		rate, _ = st.rateNow(p)
	}
	return capBitrates(p.rungs, rate, p.src.width, p.src.height)
}

// rateNow is the source's rate for p's ladder (0: none measured yet), and
// the channel closed once the received bitrate is first measured.
func (st *Stream) rateNow(p *pending) (float64, <-chan struct{}) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return sourceRate(p.prev, st.stats.bitrate), st.stats.rated
}

// sourceRate is what the source spent, in bits/s, over prev, the segment
// before the one being transcoded (its bytes as cut, audio included), or
// the received bitrate before there is one.
func sourceRate(prev *segment.Segment, received float64) float64 {
	if prev != nil {
		if d := prev.Duration().Seconds(); d > 0 {
			return float64(prev.Len()*8) / d
		}
	}
	return received
}
