// Package glass is the glass-to-glass part of castnet's benchmark suite
// (issue 13, item 3): how far behind the publisher a viewer is on each
// playback path, how long a WHEP viewer waits for its first picture, and
// what each WHEP viewer costs the node.
//
// A publisher in this process sends a live test pattern over WebRTC and
// stamps every access unit with the wall-clock time it is sent, in an SEI
// message (sei.go). Receivers read the stamp back: WHEP viewers of the
// node, two HLS players of its source rendition, and, as the floor taken
// in the same run, a pion receiver connected straight to the same
// publisher with no node between them.
package glass

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
)

// stream is the name published; segment the node's segment duration.
const (
	stream  = "glass"
	segment = 2 * time.Second
)

// Bounds on waiting; a healthy node is far inside them.
const (
	liveTimeout     = 30 * time.Second
	keyframeTimeout = 5 * time.Second
	packetTimeout   = 10 * time.Second
)

// plan sizes a run.
type plan struct {
	latency time.Duration // every path measured at once
	joins   int           // joins per publisher behaviour
	levels  []int         // viewer counts at scale
	settle  time.Duration // after a level's viewers connected
	window  time.Duration // a level's CPU and loss window
	bound   time.Duration // the generator's -t: nothing outlives it
}

// planFor fits the full run in about 3 minutes on two cores and the smoke
// run in about 40 s.
func planFor(short bool) plan {
	if short {
		return plan{latency: 8 * time.Second, joins: 2, levels: []int{1, 10}, settle: time.Second,
			window: 3 * time.Second, bound: 2 * time.Minute}
	}
	return plan{latency: 40 * time.Second, joins: 6, levels: []int{1, 50, 200}, settle: 2 * time.Second,
		window: 10 * time.Second, bound: 5 * time.Minute}
}

type part struct{}

// New returns the glass part.
func New() bench.Part { return part{} }

// Name is "glass".
func (part) Name() string { return "glass" }

// Run measures every path of one stream, then the viewers at scale.
func (part) Run(ctx context.Context, env bench.Env) (*bench.Result, error) {
	started := time.Now()
	if env.FFmpeg == "" {
		env.FFmpeg = "ffmpeg"
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	if _, err := exec.LookPath(env.FFmpeg); err != nil {
		return nil, fmt.Errorf("glass: %w", err)
	}
	dir, err := os.MkdirTemp("", "castnet-glass-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &run{env: env, plan: planFor(env.Short), dir: dir}
	defer r.close()
	if err := r.setup(ctx); err != nil {
		return nil, fmt.Errorf("glass: %w", r.withLogs(err))
	}
	if err := r.measure(ctx); err != nil {
		return nil, fmt.Errorf("glass: %w", r.withLogs(err))
	}
	return r.result(started), nil
}

// run is one Run's state.
type run struct {
	env     bench.Env
	plan    plan
	dir     string
	client  *http.Client
	pubAPI  *webrtc.API
	viewAPI *webrtc.API
	src     *source
	node    *node.Node
	pub     *sender // the publisher's WHIP session on the node
	floorTx *sender // the publisher's direct link to the floor
	floor   *viewer
	data    Data
}

func (r *run) setup(ctx context.Context) error {
	var err error
	if r.pubAPI, err = newAPI(publisherRole); err != nil {
		return err
	}
	if r.viewAPI, err = newAPI(viewerRole); err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	r.client = &http.Client{Transport: tr, Timeout: 15 * time.Second}
	r.env.Say("glass: starting the stamping publisher and castnet dev")
	if r.src, err = startSource(r.env.FFmpeg, r.plan.bound, r.env.Log); err != nil {
		return err
	}
	if err := r.startNode(ctx, "data", "-ffmpeg", r.env.FFmpeg); err != nil {
		return err
	}
	if r.floorTx, r.floor, err = linkFloor(ctx, r.pubAPI, r.viewAPI, r.src); err != nil {
		return err
	}
	return r.waitLive(ctx)
}

// startNode runs `castnet dev` with 2 s segments and publishes to it.
func (r *run) startNode(ctx context.Context, data string, args ...string) error {
	args = append([]string{"-data", filepath.Join(r.dir, data), "-segment", segment.String()}, args...)
	var err error
	if r.node, err = node.Start(ctx, r.env.Exe, "dev", args...); err != nil {
		return err
	}
	r.pub, err = publishWHIP(ctx, r.pubAPI, r.client, r.node.URL+"/whip/"+stream, r.src)
	return err
}

// stopNode ends the publisher's session and the node.
func (r *run) stopNode() {
	if r.pub != nil {
		r.pub.close(r.client)
		r.pub = nil
	}
	if r.node != nil {
		r.node.Stop()
		r.node = nil
	}
}

// waitLive waits for the source rendition's playlist to list something:
// the stream is then live on every path.
func (r *run) waitLive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	u, err := url.Parse(r.node.URL + "/hls/" + stream + "/source/index.m3u8")
	if err != nil {
		return err
	}
	if _, err := (hlsClient{client: r.client, url: u}).waitPlaylist(ctx); err != nil {
		return fmt.Errorf("stream not live: %w", err)
	}
	return nil
}

func (r *run) close() {
	r.closeFloor()
	r.stopNode()
	if r.src != nil {
		r.src.close()
	}
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
}

func (r *run) closeFloor() {
	if r.floorTx != nil {
		r.floorTx.close(nil)
		r.floorTx = nil
	}
	if r.floor != nil {
		r.floor.close()
		r.floor = nil
	}
}

// withLogs adds the node's log tail to an error.
func (r *run) withLogs(err error) error {
	if r.node == nil {
		return err
	}
	return errors.Join(err, fmt.Errorf("node log:\n%s", r.node.Logs()))
}

// whep is the node's WHEP endpoint for the stream, with a query.
func (r *run) whep(query string) string { return r.node.URL + "/whep/" + stream + query }

// measure runs the phases in turn.
func (r *run) measure(ctx context.Context) error {
	if err := r.latency(ctx); err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	r.closeFloor()
	if err := r.joins(ctx); err != nil {
		return fmt.Errorf("joins: %w", err)
	}
	// The scale phase runs on a node that does not transcode, so that
	// the ladder's ffmpeg does not share the two cores with the viewers.
	r.env.Say("glass: restarting the node with -source-only for the viewers at scale")
	r.stopNode()
	if err := r.startNode(ctx, "data-source-only", "-source-only"); err != nil {
		return err
	}
	if err := r.waitLive(ctx); err != nil {
		return err
	}
	return r.scale(ctx)
}
