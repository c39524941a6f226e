package glass

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/castnet/castnet/internal/bench"
)

// warmup is how long after a viewer's first picture its figures start to
// count: a viewer that started from the node's cached GOP receives it at
// line speed, behind live, and is caught up after a GOP.
const warmup = 1500 * time.Millisecond

// Path names, as the tables show them.
const (
	pathFloor     = "floor: publisher → pion receiver, no node"
	pathWHEP      = "WHEP source"
	pathRendition = "WHEP ?rendition=360p"
	pathLLHLS     = "LL-HLS source, parts (blocking reload)"
	pathNoParts   = "HLS (no parts yet), LL client"
	pathHLS       = "HLS source, whole segments (poll every target/2)"
)

// Path is one playback path's glass-to-glass times.
type Path struct {
	Name string `json:"name"`
	// Served is false for a path the node does not offer; Note says why.
	Served bool      `json:"served"`
	Note   string    `json:"note,omitempty"`
	MS     []float64 `json:"ms"`
}

// latency watches every path at once for plan.latency.
func (r *run) latency(ctx context.Context) error {
	r.env.Say("glass: every path at once for %s", r.plan.latency)
	v, err := watchWHEP(ctx, r.viewAPI, r.client, r.whep(""), true)
	if err != nil {
		return err
	}
	defer v.leave(r.client)
	if !waitFor(ctx, v.keyframe, keyframeTimeout) {
		return fmt.Errorf("WHEP viewer: no keyframe within %s", keyframeTimeout)
	}
	rend, rendPath := r.rendition(ctx)
	if rend != nil {
		defer rend.leave(r.client)
	}
	if err := bench.Sleep(ctx, warmup); err != nil {
		return err
	}
	from := time.Now()
	ll, plain := r.hlsPlayers(ctx)
	to := time.Now()
	r.data.LLHLS, r.data.HLS = ll, plain
	r.data.Paths = append(r.data.Paths,
		Path{Name: pathFloor, Served: true, MS: r.floor.samplesIn(from, to)},
		Path{Name: pathWHEP, Served: true, MS: v.samplesIn(from, to)},
		rendPath.measured(rend, from, to),
		hlsPath(ll, true), hlsPath(plain, false))
	r.data.WHEPUnstamped, r.data.WHEPBroken = v.frameCounts()
	return nil
}

// hlsPlayers runs the LL-HLS and the plain HLS player for plan.latency.
func (r *run) hlsPlayers(ctx context.Context) (ll, plain HLSResult) {
	ctx, cancel := context.WithTimeout(ctx, r.plan.latency)
	defer cancel()
	u, err := url.Parse(r.node.URL + "/hls/" + stream + "/source/index.m3u8")
	if err != nil {
		ll.fail(err)
		return ll, ll
	}
	c := hlsClient{client: r.client, url: u}
	var wg sync.WaitGroup
	wg.Go(func() { ll = c.followParts(ctx) })
	wg.Go(func() { plain = c.pollSegments(ctx) })
	wg.Wait()
	return ll, plain
}

func hlsPath(h HLSResult, ll bool) Path {
	name := pathHLS
	if ll {
		name = map[bool]string{true: pathLLHLS, false: pathNoParts}[h.Parts]
	}
	p := Path{Name: name, Served: true, MS: values(h.Samples)}
	if h.Errors > 0 {
		p.Note = fmt.Sprintf("%d errors, first: %s", h.Errors, h.FirstError)
	}
	if h.Unstamped > 0 {
		p.Note += fmt.Sprintf("; %d of %d fetched without a stamp", h.Unstamped, h.Fetched)
	}
	return p
}

// rendition asks for the 360p rung over WHEP. A node that does not serve
// it gets a row saying so; this is not a failure of the part.
func (r *run) rendition(ctx context.Context) (*viewer, Path) {
	p := Path{Name: pathRendition}
	v, err := watchWHEP(ctx, r.viewAPI, r.client, r.whep("?rendition=360p"), true)
	var se *statusError
	switch {
	case errors.As(err, &se):
		p.Note = fmt.Sprintf("not served by this node (HTTP %d: %.80s)", se.Code, se.Body)
		return nil, p
	case err != nil:
		p.Note = "not served by this node: " + err.Error()
		return nil, p
	}
	if !waitFor(ctx, v.keyframe, keyframeTimeout) {
		p.Note = fmt.Sprintf("answered 201, but no keyframe within %s", keyframeTimeout)
	}
	p.Served = true
	return v, p
}

// measured fills the rendition's row from its viewer.
func (p Path) measured(v *viewer, from, to time.Time) Path {
	if v == nil {
		return p
	}
	p.MS = v.samplesIn(from, to)
	join, _, width, _ := v.joinInfo()
	switch unstamped, _ := v.frameCounts(); {
	case width == srcW:
		p.Served, p.Note = false, "not served by this node: it answered 201 with the source (1280 wide)"
	case len(p.MS) == 0 && unstamped > 0:
		p.Note = fmt.Sprintf("served (%d px wide, joined in %.0f ms), but its pictures carry no stamp: the transcoder drops SEI", width, ms(join))
	}
	return p
}

// JoinRun is the joins with one publisher behaviour.
type JoinRun struct {
	Mode       string    `json:"mode"`
	AnswersPLI bool      `json:"answers_pli"`
	JoinMS     []float64 `json:"join_ms"`
	// FirstAgeMS is how old each first keyframe's stamp was on arrival:
	// how far behind live the viewer's first picture is (large when it
	// started from the node's cached GOP).
	FirstAgeMS []float64 `json:"first_keyframe_age_ms"`
	Failed     int       `json:"failed"`
}

// joins times plan.joins new WHEP viewers with the publisher answering
// PLIs, then as many with it ignoring them.
func (r *run) joins(ctx context.Context) error {
	defer r.src.setAnswerPLI(true)
	for _, answer := range []bool{true, false} {
		r.src.setAnswerPLI(answer)
		j := JoinRun{Mode: map[bool]string{true: "publisher answers PLIs (as a browser)",
			false: "publisher ignores PLIs (as OBS; IDR every 30 frames)"}[answer], AnswersPLI: answer}
		for i := range r.plan.joins {
			// Joins land at different points of the GOP.
			if err := bench.Sleep(ctx, time.Duration(400+(i*377)%600)*time.Millisecond); err != nil {
				return err
			}
			if err := r.join(ctx, &j); err != nil {
				return err
			}
		}
		r.env.Say("glass: %s: join p50 %.0f ms over %d", j.Mode, bench.Median(j.JoinMS), len(j.JoinMS))
		r.data.Joins = append(r.data.Joins, j)
	}
	return nil
}

// join times one viewer from its POST to its first complete keyframe.
func (r *run) join(ctx context.Context, j *JoinRun) error {
	v, err := watchWHEP(ctx, r.viewAPI, r.client, r.whep(""), true)
	if err != nil {
		return err
	}
	defer v.leave(r.client)
	if !waitFor(ctx, v.keyframe, keyframeTimeout) {
		j.Failed++
		return ctx.Err()
	}
	d, age, _, _ := v.joinInfo()
	j.JoinMS = append(j.JoinMS, ms(d))
	j.FirstAgeMS = append(j.FirstAgeMS, age)
	return nil
}
