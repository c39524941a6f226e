package transcodecost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/castnet/castnet/internal/bench"
	"github.com/castnet/castnet/internal/bench/node"
	"github.com/castnet/castnet/internal/bench/procstat"
	"github.com/castnet/castnet/internal/netpool"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/trust"
)

// settle is how long the castnet path waits after an answer before
// reading the orchestrator's CPU: the handler's last steps (its log line,
// removing the job's directory, freeing the slot) run just after the
// answer's last byte and are castnet's cost too.
const settle = 100 * time.Millisecond

// attemptTimeout replaces netpool's deadline, which is tuned for live
// failover (a segment and a second): this bench measures cost on a busy
// machine, and a retry would count one segment twice.
const attemptTimeout = time.Minute

// castnetPath is an orchestrator child process and the broadcaster's
// client that sends it segments.
type castnetPath struct {
	node *node.Node
	pool *netpool.Pool
	info *http.Client // for /api/info; its connections close with the path
}

// startCastnet runs `castnet orchestrator -transcode local -capacity 1`,
// free, and builds the broadcaster's client for it: a netpool.Pool whose
// sealer signs each segment and checks each receipt, as the broadcaster's.
func startCastnet(ctx context.Context, exe, ffmpeg, dir string, log *slog.Logger) (*castnetPath, error) {
	n, err := node.Start(ctx, exe, "orchestrator", "-transcode", "local", "-capacity", "1", "-price", "0",
		"-ffmpeg", ffmpeg, "-ledger", filepath.Join(dir, "ledger.db"))
	if err != nil {
		return nil, err
	}
	key, err := sign.NewKey()
	if err != nil {
		n.Stop()
		return nil, err
	}
	seal := trust.NewBroadcaster(trust.BroadcasterConfig{Key: key, Domain: sign.DefaultDomain(),
		Segment: segmentSeconds * time.Second, Logger: log})
	pool, err := netpool.New(netpool.Config{URLs: []string{n.URL}, Sealer: seal.ForNode,
		SegmentDuration: segmentSeconds * time.Second, AttemptTimeout: attemptTimeout,
		LastResortTimeout: attemptTimeout, Logger: log})
	if err != nil {
		n.Stop()
		return nil, err
	}
	return &castnetPath{node: n, pool: pool, info: &http.Client{Transport: &http.Transport{}}}, nil
}

// Close stops the client, then the orchestrator.
func (c *castnetPath) Close() {
	_ = c.pool.Close()
	c.info.CloseIdleConnections()
	c.node.Stop()
}

// job is the broadcaster's job for one segment: the default ladder for a
// 720p source, the segment re-readable for failover.
func job(seq int, seg segment) transcode.Job {
	return transcode.Job{Stream: "bench", Seq: uint64(seq), Input: bytes.NewReader(seg.Data),
		Reopen:   func() io.Reader { return bytes.NewReader(seg.Data) },
		Duration: func() time.Duration { return time.Duration(seg.Media * float64(time.Second)) },
		Profiles: transcode.Ladder(transcode.DefaultLadder(), srcW, srcH), SourceWidth: srcW, SourceHeight: srcH}
}

// castnetRun is what one segment cost through castnet.
type castnetRun struct {
	Wall       time.Duration
	FFmpeg     time.Duration // the orchestrator's reaped children
	Orch       time.Duration // the orchestrator's own (Go) CPU
	Client     time.Duration // this process's CPU in the client
	Renditions int
	RSS        int64 // the orchestrator's resident set after the answer
}

// CPU is everything the segment cost castnet.
func (r castnetRun) CPU() time.Duration { return r.FFmpeg + r.Orch + r.Client }

// run sends one segment and charges it: the orchestrator's CPU with its
// reaped ffmpeg children, read before and after (ffmpeg has exited and
// been waited for before the answer is written), and this process's own
// CPU around the send.
func (c *castnetPath) run(ctx context.Context, seq int, seg segment) (castnetRun, error) {
	if err := c.waitFree(ctx); err != nil {
		return castnetRun{}, err
	}
	o0, err := c.node.Stat()
	if err != nil {
		return castnetRun{}, err
	}
	s0, err := procstat.Read(os.Getpid())
	if err != nil {
		return castnetRun{}, err
	}
	start := time.Now()
	rends, err := c.pool.Transcode(ctx, job(seq, seg))
	wall := time.Since(start)
	s1, serr := procstat.Read(os.Getpid())
	if err = errors.Join(err, serr); err != nil {
		return castnetRun{}, fmt.Errorf("castnet, segment %d: %w\norchestrator log:\n%s", seq, err, c.node.Logs())
	}
	if err := bench.Sleep(ctx, settle); err != nil {
		return castnetRun{}, err
	}
	o1, err := c.node.Stat()
	if err != nil {
		return castnetRun{}, err
	}
	return castnetRun{Wall: wall, Renditions: len(rends), RSS: o1.RSS,
		Orch:   o1.CPU() - o0.CPU(),
		FFmpeg: (o1.CPUWithChildren() - o1.CPU()) - (o0.CPUWithChildren() - o0.CPU()),
		Client: s1.CPU() - s0.CPU()}, nil
}

// waitFree waits, outside the measured span, until the orchestrator's one
// slot is free again: a segment sent into a full node would be refused
// (503) and retried half a second later, which is not transcode cost.
func (c *castnetPath) waitFree(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		free, err := c.free(ctx)
		if err == nil && free > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("orchestrator slot not free after 10 s (last error: %v)", err)
		}
		if err := bench.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// free reads the orchestrator's free slots from its /api/info.
func (c *castnetPath) free(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.node.URL+"/api/info", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.info.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /api/info: %s", resp.Status)
	}
	var in struct {
		Free int `json:"free"`
	}
	err = json.NewDecoder(resp.Body).Decode(&in)
	return in.Free, err
}

// bareRun is what one segment cost through ffmpeg run by hand.
type bareRun struct {
	Wall, CPU time.Duration
}

// runBare runs args, castnet's own ffmpeg argument list, by hand in a
// fresh directory with the segment file as stdin.
func runBare(ctx context.Context, ffmpeg string, args []string, seg segment, dir string) (bareRun, error) {
	in, err := os.Open(seg.Path)
	if err != nil {
		return bareRun{}, err
	}
	defer in.Close()
	work, err := os.MkdirTemp(dir, "bare-*")
	if err != nil {
		return bareRun{}, err
	}
	defer os.RemoveAll(work)
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	cmd.Dir, cmd.Stdin = work, in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return bareRun{}, fmt.Errorf("bare ffmpeg on %s: %w: %s", seg.Name, err, strings.TrimSpace(lastBytes(stderr.Bytes(), 1024)))
	}
	return bareRun{Wall: wall, CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}
