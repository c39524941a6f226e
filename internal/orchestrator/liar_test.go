package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/orchestrator/dispatch"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
	"github.com/castnet/castnet/internal/transcoder"
	"github.com/castnet/castnet/internal/trust"
)

// A lying transcoder node (issue 11): it sends each rendition
// InflateTimes over and signs an honest count of the lie's pixels. Its
// orchestrator's gate refuses to vouch for that, and the refusal is the
// transcoder's fault, not the orchestrator's: the job moves to another
// transcoder, and with none left it fails with the reason.

// liarLadder is the source and one rung below a 320x240 source.
var liarLadder = []transcode.Profile{transcode.SourceProfile(), {Name: "120p", Width: 160, Height: 120, Bitrate: 100_000, FPS: 30}}

// TestLyingTranscoderIsTheTranscodersFault: the liar, registered first,
// gets the segment; the gate refuses its result, which counts as the
// liar's failed job, and the segment is re-dispatched to the honest node,
// whose answer the broadcaster accepts. Nothing is charged for the lie.
func TestLyingTranscoderIsTheTranscodersFault(t *testing.T) {
	n := newLiarNode(t)
	liar := n.startTranscoder(t, "liar", inflating{honestVideo{}})
	n.startTranscoder(t, "honest", honestVideo{})
	rends, err := n.client(t).Transcode(t.Context(), liarJob(1))
	if err != nil {
		t.Fatalf("the segment was not moved to the honest transcoder: %v", err)
	}
	var proof trust.Proof
	if err := json.Unmarshal([]byte(rends[0].Proof), &proof); err != nil {
		t.Fatal(err)
	}
	res := trust.Open[sign.TranscodeResult](n.domain, proof.Answer.Result)
	if res.Err != nil || res.Signer == liar {
		t.Errorf("the answer's result is by %s (the liar is %s): %v", res.Signer.Hex(), liar.Hex(), res.Err)
	}
	for _, tr := range n.pool.Snapshot().Transcoders {
		want := map[string][2]uint64{"liar": {0, 1}, "honest": {1, 0}}[tr.Name]
		if tr.JobsDone != want[0] || tr.JobsFailed != want[1] {
			t.Errorf("%s: %d jobs done, %d failed; want %d and %d", tr.Name, tr.JobsDone, tr.JobsFailed, want[0], want[1])
		}
	}
	if c := n.charged(); c.Segments != 1 || c.Pixels != 30*160*120 {
		t.Errorf("charged %+v, want the honest segment's 30 frames of 160x120", c)
	}
}

// TestLyingTranscoderAloneFailsTheSegment: with no other transcoder, the
// segment fails with 503 and the gate's reason, so the broadcaster goes to
// another orchestrator without faulting this one, and nothing is charged.
func TestLyingTranscoderAloneFailsTheSegment(t *testing.T) {
	n := newLiarNode(t)
	n.startTranscoder(t, "liar", inflating{honestVideo{}})
	_, err := n.client(t).Transcode(t.Context(), liarJob(1))
	var se *remote.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable ||
		!strings.Contains(se.Reason, "bad result") || !strings.Contains(se.Reason, "billing pixels") {
		t.Fatalf("err %v, want 503 naming the refused result and the billing rule", err)
	}
	if c := n.charged(); c.Segments != 0 || c.Pixels != 0 {
		t.Errorf("charged %+v for a lie", c)
	}
}

// liarNode is an orchestrator with a gate (free: nothing to pay, but it
// signs receipts) dispatching to transcoder nodes.
type liarNode struct {
	domain sign.Domain
	pool   *dispatch.Pool
	gate   *trust.Orchestrator
	url    string
	log    *slog.Logger
}

func newLiarNode(t *testing.T) *liarNode {
	t.Helper()
	n := &liarNode{domain: sign.DefaultDomain(), log: slog.New(slog.NewTextHandler(t.Output(), nil))}
	oKey := mustKey(t)
	pool, err := dispatch.New(dispatch.Config{Secret: "s", Logger: n.log})
	if err != nil {
		t.Fatal(err)
	}
	n.pool, n.gate = pool, trust.NewOrchestrator(trust.OrchestratorConfig{Key: oKey, Domain: n.domain, Logger: n.log})
	o, err := New(Config{Workers: testWorkers{pool}, Gate: n.gate, Address: oKey.Address, Logger: n.log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = pool.Close() }) // first: ends the sessions srv.Close waits for
	n.url = srv.URL
	return n
}

// startTranscoder runs a transcoder node named name that signs its
// results, and returns its address.
func (n *liarNode) startTranscoder(t *testing.T, name string, tr transcode.Transcoder) common.Address {
	t.Helper()
	key, before := mustKey(t), n.pool.Capacity()
	runTranscoder(t, transcoder.Config{OrchestratorURL: n.url, Secret: "s", Capacity: 1, Name: name,
		Transcoder: tr, Vouch: trust.Vouch(key, n.domain), Logger: n.log.With("node", name)})
	waitFor(t, 5*time.Second, name+" registered", func() bool { return n.pool.Capacity() == before+1 })
	return key.Address
}

// client is a broadcaster's client to n: it signs each segment and checks
// the receipts.
func (n *liarNode) client(t *testing.T) *remote.Client {
	b := trust.NewBroadcaster(trust.BroadcasterConfig{Key: mustKey(t), Domain: n.domain})
	return &remote.Client{URL: n.url, Sealer: b.ForNode(n.url)}
}

func (n *liarNode) charged() trust.Charged {
	return n.gate.Payments().(map[string]any)["charged"].(trust.Charged)
}

func liarJob(seq uint64) transcode.Job {
	return transcode.Job{Stream: "cam", Seq: seq, Input: bytes.NewReader(bytes.Repeat([]byte{0x47}, 188*10)),
		Duration: func() time.Duration { return time.Second }, Profiles: liarLadder, SourceWidth: 320, SourceHeight: 240}
}

func mustKey(t *testing.T) sign.Key {
	t.Helper()
	k, err := sign.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// honestVideo answers a 1 s segment as an honest transcoder does: the
// source passed through, and each rung as 30 frames at 30 fps of H.264 at
// its fitted size (stand-in frames: only the SPS and timestamps count).
type honestVideo struct{}

func (honestVideo) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	src, err := echo{}.Transcode(ctx, job)
	if err != nil {
		return nil, err
	}
	for i, r := range src {
		src[i].Width, src[i].Height = transcode.FitSize(r.Profile, job.SourceWidth, job.SourceHeight)
		if !r.Profile.IsSource() {
			if src[i].Data, err = video(src[i].Width, src[i].Height, 30); err != nil {
				return nil, err
			}
		}
	}
	return src, nil
}

// video muxes frames frames at 30 fps of stand-in H.264 of w × h.
func video(w, h, frames int) ([]byte, error) {
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	if err := m.WriteTables(); err != nil {
		return nil, err
	}
	for i := range frames {
		pts := time.Second + time.Duration(i)*time.Second/30
		nalus := [][]byte{{0x41, byte(i), 0x80}}
		if i == 0 {
			nalus = [][]byte{mpegtstest.SPS(w, h), {0x65, 0x88, 0x80}}
		}
		if err := m.WriteVideoNALUs(pts, pts, i == 0, nalus); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
