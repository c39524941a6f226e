package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/castnet/castnet/internal/broadcaster"
	"github.com/castnet/castnet/internal/config"
	"github.com/castnet/castnet/internal/publish"
)

// The rule under test: a bad publisher (loss, garbage RTP, stopping
// mid-segment, never sending a keyframe) never crashes the node or disturbs
// other streams. One good publisher and six bad ones share one node at once;
// each bad one publishes real H.264 and Opus, or noise, over a pion client
// whose every RTP packet the test writes.
const (
	publishFor = 10 * time.Second
	stopAfter  = 3500 * time.Millisecond // in the middle of the second 2 s segment
	clipFPS    = 30
	clipGOP    = 30 // frames: a keyframe each second
	lossRate   = 0.10
	swapRate   = 0.05
)

func TestRobustBadPublishersDoNotDisturbTheNode(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	leaks := goleak.IgnoreCurrent()
	clip := encodeClip(t, ffmpeg)
	n := startRobustNode(t)
	bad := badPublishers()
	runs := make([]*badRun, len(bad))
	for i, b := range bad {
		runs[i] = &badRun{peer: n.dial(t, b.name)}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		err := publish.Run(t.Context(), publish.Config{URL: n.base + "/whip/good", TestPattern: true,
			Duration: publishFor, Width: 320, Height: 240, FPS: clipFPS, Bitrate: 300_000})
		if err != nil {
			t.Errorf("good publisher: %v", err)
		}
	})
	for i, b := range bad {
		wg.Go(func() { runs[i].run(t, n, b, clip) })
	}
	wg.Wait()

	t.Run("the good stream is undisturbed", func(t *testing.T) {
		checkGood(t, n, n.waitEnded(t, "good", time.Now().Add(30*time.Second)))
	})
	for i, b := range bad {
		t.Run(b.name+": "+b.rule, func(t *testing.T) {
			r := runs[i]
			r.ended = n.waitEnded(t, b.name, r.deadline)
			if b.stop != nil {
				// A publisher that vanished may come back: its playlists
				// end once the reconnect grace is over (broadcaster).
				n.waitEndlist(t, b.name, time.Now().Add(broadcaster.DefaultReconnectGrace+10*time.Second))
			}
			r.playlists = n.playlists(t, b.name)
			t.Logf("segments %d (%.1f s), published %d, transport %+v, last_error %.200q", r.ended.Segments,
				extinfSum(r.playlists["source"]), r.ended.Published, r.ended.Transport, r.ended.LastError)
			b.check(t, r)
		})
	}
	t.Run("no reader panicked", func(t *testing.T) {
		for line := range strings.Lines(n.logs()) {
			if strings.Contains(line, "panic") {
				t.Errorf("node log: %s", line)
			}
		}
	})
	n.get(t, "/api/streams", &[]broadcaster.StreamInfo{}) // the node still serves
	for _, r := range runs {
		r.peer.close()
	}
	start := time.Now()
	if err := n.dev.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v with every stream already ended", d)
	}
	n.client.CloseIdleConnections()
	if t.Failed() {
		t.Logf("node log:\n%s", n.logs())
	}
	goleak.VerifyNone(t, leaks)
}

// checkGood: the stream beside the bad ones ends cleanly, every segment
// published in every rendition, covering about the time it was published.
func checkGood(t *testing.T, n *robustNode, in broadcaster.StreamInfo) {
	if in.LastError != "" || in.Failures != 0 {
		t.Errorf("last_error %q, %d transcode failures; want none", in.LastError, in.Failures)
	}
	if in.Published == 0 || in.Published != in.Segments {
		t.Errorf("%d of %d segments published; want all, and some", in.Published, in.Segments)
	}
	pls := n.playlists(t, "good")
	if len(in.Renditions) != 2 || len(pls) != 2 {
		t.Errorf("renditions %+v, %d playlists on disk; want source and 120p", in.Renditions, len(pls))
	}
	got := extinfSum(pls["source"])
	t.Logf("%d segments cover %.2f s", in.Published, got)
	if lo, hi := 0.7*publishFor.Seconds(), 1.3*publishFor.Seconds(); got < lo || got > hi {
		t.Errorf("source segments cover %.2f s; want %.1f to %.1f s for %v published", got, lo, hi, publishFor)
	}
}

// badPublisher is one way of publishing badly, each on its own stream.
type badPublisher struct {
	name, rule string
	send       func(*sender, []accessUnit)
	// stop ends the publishing; nil means the polite WHIP DELETE.
	stop  func(*rawPeer)
	check func(*testing.T, *badRun)
}

// badRun is what happened to one bad publisher.
type badRun struct {
	peer        *rawPeer
	sender      *sender
	live, ended broadcaster.StreamInfo // just before it stopped; once ended
	deadline    time.Time              // for the node to end the stream
	playlists   map[string]string
}

func (r *badRun) run(t *testing.T, n *robustNode, b badPublisher, c []accessUnit) {
	r.sender = &sender{p: r.peer, rng: rand.New(rand.NewPCG(1, 2))}
	b.send(r.sender, c)
	n.get(t, "/api/streams/"+b.name, &r.live)
	if b.stop == nil {
		r.deadline = time.Now().Add(30 * time.Second) // transcodes finishing on a loaded machine
		r.peer.delete(t)
		return
	}
	// Unannounced, ICE disconnects after 5 s of silence and fails 10 s
	// later (internal/rtc): 25 s is generous.
	r.deadline = time.Now().Add(25 * time.Second)
	b.stop(r.peer)
}

func badPublishers() []badPublisher {
	return []badPublisher{{
		name: "garbage", rule: "malformed RTP is survived",
		send: func(s *sender, c []accessUnit) { sendGarbage(s, c) },
		check: func(t *testing.T, r *badRun) {
			if tr := r.ended.Transport; tr.PacketsVideo == 0 || tr.PacketsAudio == 0 {
				t.Errorf("transport %+v: the garbage never reached the node", tr)
			}
		},
	}, {
		name: "nokey", rule: "no IDR ever is asked for and makes no segment",
		send: func(s *sender, c []accessUnit) { s.noKeyframes = true; sendClip(s, c, publishFor) },
		check: func(t *testing.T, r *badRun) {
			if r.live.State != broadcaster.StateLive {
				t.Errorf("state %q after %v of P-frames; want the session kept live", r.live.State, publishFor)
			}
			if tr := r.ended.Transport; tr.PacketsVideo == 0 || tr.KeyframeAsks == 0 || r.peer.plis.Load() == 0 {
				t.Errorf("transport %+v, %d PLIs at the publisher; want keyframes asked for", tr, r.peer.plis.Load())
			}
			if in := r.ended; in.Segments != 0 || in.Published != 0 || in.LastError != "" || len(r.playlists) != 0 {
				t.Errorf("segments %d, published %d, last_error %q, %d playlists; want none of them",
					in.Segments, in.Published, in.LastError, len(r.playlists))
			}
		},
	}, {
		name: "lossy", rule: "loss and reordering are reported and segments still made",
		send: func(s *sender, c []accessUnit) { s.lossy = true; sendClip(s, c, publishFor) },
		check: func(t *testing.T, r *badRun) {
			t.Logf("the publisher dropped %d video packets", r.sender.dropped)
			if r.ended.Published == 0 || r.live.State != broadcaster.StateLive {
				t.Errorf("state %q before the DELETE, %d published; want live and some", r.live.State, r.ended.Published)
			}
			if tr := r.ended.Transport; tr.PacketsLost == 0 || tr.BrokenFrames == 0 {
				t.Errorf("transport %+v; want lost packets and broken frames reported", tr)
			}
		},
	}, {
		name: "liar", rule: "sender reports that contradict the packets do not derail stream time",
		send: func(s *sender, c []accessUnit) { s.lie = true; sendClip(s, c, publishFor) },
		check: func(t *testing.T, r *badRun) {
			got := extinfSum(r.playlists["source"])
			if in := r.ended; in.Published == 0 || in.Published != in.Segments || got > 1.3*publishFor.Seconds() {
				t.Errorf("%d of %d segments published, covering %.1f s of %v sent; want all, covering about that",
					in.Published, in.Segments, got, publishFor)
			}
		},
	}, {
		name: "abrupt", rule: "closing mid-segment without DELETE ends the stream",
		send:  func(s *sender, c []accessUnit) { sendClip(s, c, stopAfter) },
		stop:  func(p *rawPeer) { _ = p.pc.Close() },
		check: checkStopped,
	}, {
		name: "vanish", rule: "silence mid-segment ends the stream when ICE fails",
		send:  func(s *sender, c []accessUnit) { sendClip(s, c, stopAfter) },
		stop:  func(p *rawPeer) { p.conn.cut.Store(true) },
		check: checkStopped,
	}}
}

// checkStopped: what was sent before the stop is published and ended.
func checkStopped(t *testing.T, r *badRun) {
	if r.ended.Published == 0 || len(r.playlists) == 0 {
		t.Errorf("%d segments published, %d playlists after %v of sending; want some", r.ended.Published,
			len(r.playlists), stopAfter)
	}
}

// robustNode is a dev node on loopback ports with a one-rung ladder (120p,
// cheap to encode), so that every stream has two renditions.
type robustNode struct {
	dev    *Dev
	dir    string
	base   string
	client *http.Client
	log    string // the node's log file
}

func startRobustNode(t *testing.T) *robustNode {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.ParseDev([]string{"-http", "127.0.0.1:0", "-webrtc-udp", "127.0.0.1:0", "-data", dir,
		"-profiles", filepath.Join("testdata", "robust-ladder.json")}, io.Discard)
	must(t, err)
	logf, err := os.Create(filepath.Join(dir, "node.log"))
	must(t, err)
	t.Cleanup(func() { _ = logf.Close() })
	dev, err := StartDev(cfg, slog.New(slog.NewTextHandler(logf, nil)))
	must(t, err)
	t.Cleanup(func() { _ = dev.Close() })
	client := &http.Client{Transport: &http.Transport{}, Timeout: 15 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	return &robustNode{dev: dev, dir: dir, base: "http://" + dev.HTTP.Addr().String(), client: client, log: logf.Name()}
}

// logs returns what the node has logged so far.
func (n *robustNode) logs() string {
	b, _ := os.ReadFile(n.log)
	return string(b)
}

// get decodes the JSON at path into v, failing unless it is there.
func (n *robustNode) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := n.client.Get(n.base + path)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: status %d, %v", path, resp.StatusCode, err)
	}
}

// waitEnded polls the stream until it is ended, failing at deadline.
func (n *robustNode) waitEnded(t *testing.T, name string, deadline time.Time) broadcaster.StreamInfo {
	t.Helper()
	for {
		var in broadcaster.StreamInfo
		n.get(t, "/api/streams/"+name, &in)
		if in.State == broadcaster.StateEnded {
			return in
		}
		if time.Now().After(deadline) {
			t.Errorf("stream %s still %q at its deadline; want %q", name, in.State, broadcaster.StateEnded)
			return in
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitEndlist waits until every media playlist of the stream has ended.
func (n *robustNode) waitEndlist(t *testing.T, name string, deadline time.Time) {
	t.Helper()
	for time.Now().Before(deadline) {
		paths, _ := filepath.Glob(filepath.Join(n.dir, "hls", name, "*", "index.m3u8"))
		ended := 0
		for _, p := range paths {
			if b, _ := os.ReadFile(p); strings.HasSuffix(strings.TrimSpace(string(b)), "#EXT-X-ENDLIST") {
				ended++
			}
		}
		if ended == len(paths) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// playlists returns the stream's media playlists by rendition, checking
// that each one is ended (RFC 8216 §4.3.3.4).
func (n *robustNode) playlists(t *testing.T, name string) map[string]string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(n.dir, "hls", name, "*", "index.m3u8"))
	out := map[string]string{}
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		out[filepath.Base(filepath.Dir(p))] = string(b)
		if !strings.HasSuffix(strings.TrimSpace(string(b)), "#EXT-X-ENDLIST") {
			t.Errorf("%s does not end with #EXT-X-ENDLIST", strings.TrimPrefix(p, n.dir))
		}
	}
	return out
}

// extinfSum adds up a media playlist's segment durations.
func extinfSum(playlist string) (sum float64) {
	for line := range strings.Lines(playlist) {
		if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			d, _ := strconv.ParseFloat(strings.Split(v, ",")[0], 64)
			sum += d
		}
	}
	return sum
}
