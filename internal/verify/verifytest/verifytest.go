// Package verifytest makes stream sessions' custody directories for the
// tests of internal/verify and `castnet verify`, the way the live path makes
// them: real H.264 segments from ffmpeg (mpegtstest), transcoded by
// transcode.FFmpeg, the transcoder's result from trust.Vouch, the
// orchestrator's receipt from its gate, the broadcaster's proof from its
// sealer and the log from trust.Broadcaster.Record. Tests using it skip when
// ffmpeg is not installed.
package verifytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/playback/hls"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
	"github.com/castnet/castnet/internal/trust"
)

// Stream is the stream the sessions are of.
const Stream = "cam"

// Options shape a custody directory.
type Options struct {
	// Domain is the EIP-712 domain the records are signed under.
	Domain sign.Domain
	// Profiles are the ladder each signed segment is transcoded to.
	Profiles []transcode.Profile
	// Permit publishes the stream under a publisher's permit (a publisher
	// on the broadcaster's allow-list); without it the stream is
	// anonymous.
	Permit bool
}

// Custody is a stream session's custody directory and the keys that made
// it.
type Custody struct {
	// Dir is the directory (tests that change it may work on a Copy).
	Dir    string
	Domain sign.Domain
	// The keys of the parties; Publisher and Permit are zero without a
	// permit.
	Broadcaster, Orchestrator, Transcoder, Publisher sign.Key
	Permit                                           sign.Permit
	// SourceWidth and SourceHeight are the segments' picture size.
	SourceWidth, SourceHeight int
	// Pixels are trust.Pixels of each signed segment's renditions.
	Pixels map[uint64]uint64

	profiles []transcode.Profile
	b        *trust.Broadcaster
	payer    fmt.Stringer // the session's, committed
	infoURL  string
	ff       *transcode.FFmpeg
	hls      *hls.Stream // playback's session: its files and manifest
}

// New starts an empty session's directory: Publish and Unsigned add its
// segments.
func New(t *testing.T, opt Options) *Custody {
	t.Helper()
	mpegtstest.Tool(t, "ffmpeg")
	mpegtstest.Tool(t, "ffprobe")
	c := &Custody{Domain: opt.Domain, Broadcaster: Key(), Orchestrator: Key(), Transcoder: Key(),
		SourceWidth: 320, SourceHeight: 240, Pixels: map[uint64]uint64{}, profiles: opt.Profiles}
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ff.Close() })
	c.ff, c.infoURL = ff, c.serveInfo(t)
	c.hls, c.Dir = openPlayback(t, opt.Profiles)
	cfg := trust.BroadcasterConfig{Key: c.Broadcaster, Domain: c.Domain}
	if opt.Permit {
		c.Publisher = Key()
		cfg.Allowed = []common.Address{c.Publisher.Address}
	}
	c.b = trust.NewBroadcaster(cfg)
	if opt.Permit {
		c.admit(t)
	}
	return c
}

// openPlayback opens the session in a real HLS store, which writes the
// renditions and the manifest of what the playlists list, as the node's
// playback does.
func openPlayback(t *testing.T, profiles []transcode.Profile) (*hls.Stream, string) {
	t.Helper()
	store, err := hls.New(hls.Config{Dir: t.TempDir(), MinFree: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	vs := make([]hls.Variant, 0, len(profiles))
	for _, p := range profiles {
		vs = append(vs, hls.Variant{Name: p.Name})
	}
	st, err := store.Open(Stream, vs)
	if err != nil {
		t.Fatal(err)
	}
	return st, st.Dir()
}

// Key is a fresh key.
func Key() sign.Key {
	k, err := sign.NewKey()
	if err != nil {
		panic(err)
	}
	return k
}

// serveInfo serves the orchestrator's /api/info, for the broadcaster's
// sealer: its address, and no price.
func (c *Custody) serveInfo(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/info" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"address": c.Orchestrator.Address.Hex(), "price_per_pixel": "0"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// admit signs the publisher's permit and admits it as WHIP would: Admit,
// then the commit whip makes once the stream name is the session's.
func (c *Custody) admit(t *testing.T) { c.admitAs(t, 7, "s1") }

// Reconnect admits the publisher again under a new permit (nonce), as a
// reconnected session that continues the log: later segments are its.
func (c *Custody) Reconnect(t *testing.T, nonce int64) {
	c.admitAs(t, nonce, "s"+strconv.FormatInt(nonce, 10))
}

func (c *Custody) admitAs(t *testing.T, nonce int64, session string) {
	t.Helper()
	c.Permit = sign.Permit{Stream: Stream, Broadcaster: c.Broadcaster.Address, Expires: big.NewInt(time.Now().Add(time.Hour).Unix()),
		MaxPricePerPixel: big.NewInt(0), Nonce: big.NewInt(nonce)}
	sig, err := sign.SignRecord(c.Publisher, c.Domain, c.Permit)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/whip/"+Stream, strings.NewReader("v=0"))
	r.Header.Set("Authorization", "Bearer "+sign.EncodeToken(c.Permit, sig))
	commit, err := c.b.Admit(r, Stream)
	if err != nil {
		t.Fatal(err)
	}
	if c.payer, err = commit(t.Context(), session); err != nil {
		t.Fatal(err)
	}
}

// Publish makes segment seq from the lavfi pattern (testsrc, testsrc2,
// smptebars), runs it through T, O and B, and stores it as playback and
// the custody log do.
func (c *Custody) Publish(t *testing.T, seq uint64, pattern string) {
	t.Helper()
	src := mpegtstest.Segment(t, c.SourceWidth, c.SourceHeight, pattern)
	job := transcode.Job{Stream: Stream, Seq: seq, Profiles: c.profiles, SourceWidth: c.SourceWidth, SourceHeight: c.SourceHeight,
		Duration: func() time.Duration { return time.Second }, Payer: c.payer}
	rends, proof := c.transcode(t, job, src)
	var names []string
	parts := map[string][]byte{}
	for _, r := range rends {
		parts[r.Profile.Name] = r.Data
		names = append(names, r.Profile.Name)
	}
	if err := c.hls.AddSegment(seq, time.Second, parts); err != nil {
		t.Fatal(err)
	}
	if err := c.b.Record(trust.Published{Dir: c.Dir, Stream: Stream, Seq: seq, Source: src, Names: names,
		Profiles: job.Profiles, Proof: proof, Payer: c.payer}); err != nil {
		t.Fatal(err)
	}
	px, err := trust.Pixels(rends)
	if err != nil {
		t.Fatal(err)
	}
	c.Pixels[seq] = px
}

// transcode sends job's src through the broadcaster's sealer, the
// orchestrator's gate and a transcoder that vouches for its renditions,
// and returns them with the broadcaster's proof.
func (c *Custody) transcode(t *testing.T, job transcode.Job, src []byte) ([]transcode.Rendition, string) {
	t.Helper()
	sum := remote.SegmentSum{Keccak: sign.Keccak(src), Size: int64(len(src))}
	sealer := c.b.ForNode(c.infoURL)
	segHdr, err := sealer.Segment(t.Context(), job, sum)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := trust.NewOrchestrator(trust.OrchestratorConfig{Key: c.Orchestrator, Domain: c.Domain}).
		Admit(httptest.NewRequest(http.MethodPost, "/transcode", nil), job)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.Input(segHdr, sum); err != nil {
		t.Fatal(err)
	}
	tjob := job
	tjob.Input = bytes.NewReader(src)
	rends, err := c.ff.Transcode(t.Context(), tjob)
	if err != nil {
		t.Fatal(err)
	}
	result, err := trust.Vouch(c.Transcoder, c.Domain)(sum, rends)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rends {
		rends[i].Proof = result
	}
	hdr, err := adm.Answer(rends)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := sealer.Answer(t.Context(), job, sum, hdr, rends)
	if err != nil {
		t.Fatal(err)
	}
	return rends, proof
}

// Unsigned publishes segment seq, made from pattern, as received: its
// transcode failed for why.
func (c *Custody) Unsigned(t *testing.T, seq uint64, pattern, why string) {
	t.Helper()
	src := mpegtstest.Segment(t, c.SourceWidth, c.SourceHeight, pattern)
	if err := c.hls.AddSegment(seq, time.Second, map[string][]byte{transcode.SourceName: src}); err != nil {
		t.Fatal(err)
	}
	if err := c.b.Record(trust.Published{Dir: c.Dir, Stream: Stream, Seq: seq, Source: src, Why: why, Payer: c.payer}); err != nil {
		t.Fatal(err)
	}
}

// PlayOnly publishes segment seq, made from pattern, to playback without
// a custody line, as when the log cannot be written (a full disk).
func (c *Custody) PlayOnly(t *testing.T, seq uint64, pattern string) {
	t.Helper()
	src := mpegtstest.Segment(t, c.SourceWidth, c.SourceHeight, pattern)
	if err := c.hls.AddSegment(seq, time.Second, map[string][]byte{transcode.SourceName: src}); err != nil {
		t.Fatal(err)
	}
}

// Copy returns a fresh copy of the directory.
func (c *Custody) Copy(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(c.Dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Write writes a file, making its directory.
func Write(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
