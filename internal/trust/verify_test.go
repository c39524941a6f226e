package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// The verify tests build a real custody directory the way the live path
// does: real H.264 segments from ffmpeg, transcoded by transcode.FFmpeg,
// the transcoder's result from Vouch, the orchestrator's receipt from its
// gate, the broadcaster's proof from its sealer and the log from Record.

const vfStream = "cam"

// vfProfiles are the fixture's ladder: the passthrough and two small
// rungs whose sizes need H.264 cropping (180 and 188 lines, 250 columns).
var vfProfiles = []transcode.Profile{
	transcode.SourceProfile(),
	{Name: "180p", Width: 320, Height: 180, Bitrate: 200_000, FPS: 25},
	{Name: "odd", Width: 250, Height: 250, Bitrate: 150_000, FPS: 15},
}

// vfFixture is a custody directory and the keys that made it.
type vfFixture struct {
	dir                          string // pristine: tests copy it before changing it
	d                            sign.Domain
	bKey, oKey, tKey, pub, other sign.Key
	permit                       sign.Permit
	payer                        *permitted // the session's, committed
	b                            *Broadcaster
	infoURL                      string
	ffmpeg                       *transcode.FFmpeg
	sourceW, sourceH             int
	signedSeqs                   []uint64
	unsignedSeq                  uint64
	pixels                       map[uint64]uint64 // trust.Pixels of each signed segment
}

func vfNeedFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (apt-get install ffmpeg): %v", bin, err)
		}
	}
}

// vfSegment makes a real 1 s 320x240 25 fps H.264 + Opus MPEG-TS segment,
// as a browser's stream is cut; pattern picks the picture.
func vfSegment(t testing.TB, w, h int, pattern string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.ts")
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", "lavfi", "-i", pattern + "=size=" + strconv.Itoa(w) + "x" + strconv.Itoa(h) + ":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "libopus", "-b:a", "32k", "-f", "mpegts", path}
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("making a test segment: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vfKey(t testing.TB) sign.Key {
	t.Helper()
	k, err := sign.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newVerifyFixture publishes segments 0 and 1 signed (under a permit) and
// segment 2 unsigned.
func newVerifyFixture(t *testing.T) *vfFixture {
	t.Helper()
	vfNeedFFmpeg(t)
	fx := &vfFixture{dir: t.TempDir(), d: sign.DefaultDomain().WithChainID(big.NewInt(31337)),
		bKey: vfKey(t), oKey: vfKey(t), tKey: vfKey(t), pub: vfKey(t), other: vfKey(t),
		pixels: map[uint64]uint64{}}
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ff.Close() })
	fx.ffmpeg = ff

	// The orchestrator's /api/info, for the broadcaster's sealer.
	info := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/info" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"address": fx.oKey.Address.Hex(), "price_per_pixel": "0"})
	}))
	t.Cleanup(info.Close)
	fx.infoURL = info.URL

	// The publisher's permit, admitted as WHIP would.
	fx.permit = sign.Permit{Stream: vfStream, Broadcaster: fx.bKey.Address, Expires: big.NewInt(time.Now().Add(time.Hour).Unix()),
		MaxPricePerPixel: big.NewInt(0), Nonce: big.NewInt(7)}
	sig, err := sign.SignRecord(fx.pub, fx.d, fx.permit)
	if err != nil {
		t.Fatal(err)
	}
	fx.b = NewBroadcaster(BroadcasterConfig{Key: fx.bKey, Domain: fx.d, Allowed: []common.Address{fx.pub.Address}})
	fx.payer = admitted(t, fx.b, "Bearer "+sign.EncodeToken(fx.permit, sig), vfStream, "s1")

	fx.sourceW, fx.sourceH = 320, 240
	for seq, pattern := range []string{"testsrc", "testsrc2"} {
		fx.publish(t, uint64(seq), vfSegment(t, fx.sourceW, fx.sourceH, pattern))
		fx.signedSeqs = append(fx.signedSeqs, uint64(seq))
	}
	// Segment 2: the transcode failed and the segment went out as received.
	fx.unsignedSeq = 2
	src := vfSegment(t, fx.sourceW, fx.sourceH, "smptebars")
	vfWrite(t, filepath.Join(fx.dir, transcode.SourceName, "2.ts"), src)
	if err := fx.b.Record(Published{Dir: fx.dir, Stream: vfStream, Seq: 2, Source: src,
		Why: "transcode failed: test orchestrator unreachable", Payer: fx.payer}); err != nil {
		t.Fatal(err)
	}
	return fx
}

// publish runs one segment through T, O and B and stores it as playback
// and the custody log do.
func (fx *vfFixture) publish(t *testing.T, seq uint64, src []byte) {
	t.Helper()
	ctx := t.Context()
	job := transcode.Job{Stream: vfStream, Seq: seq, Profiles: vfProfiles, SourceWidth: fx.sourceW, SourceHeight: fx.sourceH,
		Duration: func() time.Duration { return time.Second }, Payer: fx.payer}
	sum := remote.SegmentSum{Keccak: sign.Keccak(src), Size: int64(len(src))}
	sealer := fx.b.ForNode(fx.infoURL)
	segHdr, err := sealer.Segment(context.Background(), job, sum)
	if err != nil {
		t.Fatal(err)
	}
	// The orchestrator admits the segment; its transcoder transcodes and
	// vouches for the result.
	adm, err := NewOrchestrator(OrchestratorConfig{Key: fx.oKey, Domain: fx.d}).Admit(httptest.NewRequest(http.MethodPost, "/transcode", nil), job)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.Input(segHdr, sum); err != nil {
		t.Fatal(err)
	}
	tjob := job
	tjob.Input = bytes.NewReader(src)
	rends, err := fx.ffmpeg.Transcode(ctx, tjob)
	if err != nil {
		t.Fatal(err)
	}
	result, err := Vouch(fx.tKey, fx.d)(sum, rends)
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
	// The broadcaster checks the receipt; playback stores the renditions.
	proof, err := sealer.Answer(context.Background(), job, sum, hdr, rends)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rends {
		vfWrite(t, filepath.Join(fx.dir, r.Profile.Name, strconv.FormatUint(seq, 10)+".ts"), r.Data)
		names = append(names, r.Profile.Name)
	}
	if err := fx.b.Record(Published{Dir: fx.dir, Stream: vfStream, Seq: seq, Source: src, Names: names,
		Profiles: job.Profiles, Proof: proof, Payer: fx.payer}); err != nil {
		t.Fatal(err)
	}
	px, err := Pixels(rends)
	if err != nil {
		t.Fatal(err)
	}
	fx.pixels[seq] = px
}

func vfWrite(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copy returns a fresh copy of the fixture's directory.
func (fx *vfFixture) copy(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(fx.dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// editLines rewrites the log's entries through edit.
func vfEditLog(t *testing.T, dir string, edit func(e *Entry)) {
	t.Helper()
	path := filepath.Join(dir, CustodyFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, line := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
		e, err := parseEntry(line)
		if err != nil {
			t.Fatal(err)
		}
		edit(&e)
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, b...), '\n')
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// vfEditSegment edits the entry of seq.
func vfEditSegment(t *testing.T, dir string, seq uint64, edit func(e *Entry)) {
	t.Helper()
	vfEditLog(t, dir, func(e *Entry) {
		if e.Kind == KindSegment && e.Seq == seq {
			edit(e)
		}
	})
}

func vfVerify(t *testing.T, dir string) Report {
	t.Helper()
	rep, err := Verify(t.Context(), DirSource(dir))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func vfSegmentReport(t *testing.T, rep Report, seq uint64) SegmentReport {
	t.Helper()
	for _, s := range rep.Segments {
		if s.Seq == seq {
			return s
		}
	}
	t.Fatalf("no segment %d in the report", seq)
	return SegmentReport{}
}

// vfWantMismatch checks that seq is a mismatch with a reason containing
// each of want, and that the report fails.
func vfWantMismatch(t *testing.T, rep Report, seq uint64, want ...string) {
	t.Helper()
	if rep.OK(false) {
		t.Errorf("report OK despite the tampering")
	}
	s := vfSegmentReport(t, rep, seq)
	if s.Status != StatusMismatch {
		t.Fatalf("segment %d is %s, want mismatch", seq, s.Status)
	}
	all := strings.Join(s.Reasons, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("segment %d reasons lack %q:\n%s", seq, w, all)
		}
	}
	for _, other := range rep.Segments {
		if other.Seq != seq && other.Status == StatusMismatch {
			t.Errorf("segment %d also mismatched: %q", other.Seq, other.Reasons)
		}
	}
	var buf bytes.Buffer
	rep.Write(&buf)
	t.Logf("report:\n%s", buf.String())
}

func mustSeal(t *testing.T, k sign.Key, d sign.Domain, r record) Sealed {
	t.Helper()
	s, err := seal(k, d, r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustOpen[R any, PR interface {
	*R
	sign.Record
	json.Unmarshaler
}](t *testing.T, d sign.Domain, s Sealed) R {
	t.Helper()
	r, _, err := open[R, PR](d, s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyCustody(t *testing.T) {
	fx := newVerifyFixture(t)

	t.Run("intact", func(t *testing.T) {
		rep := vfVerify(t, fx.dir)
		var buf bytes.Buffer
		if err := rep.Write(&buf); err != nil {
			t.Fatal(err)
		}
		t.Logf("report:\n%s", buf.String())
		if !rep.OK(false) {
			t.Fatalf("intact custody does not verify:\n%s", buf.String())
		}
		if rep.OK(true) {
			t.Errorf("OK(strict) with an unsigned segment")
		}
		want := Totals{Segments: 3, OK: 2, Unsigned: 1, Pixels: fx.pixels[0] + fx.pixels[1]}
		if rep.Totals != want {
			t.Errorf("totals %+v, want %+v", rep.Totals, want)
		}
		if rep.Stream != vfStream || rep.Broadcaster != fx.bKey.Address || rep.Permit == nil ||
			rep.Permit.Publisher != fx.pub.Address || rep.Permit.Digest != sign.PermitDigest(fx.d, fx.permit) {
			t.Errorf("stream %q broadcaster %s permit %+v", rep.Stream, rep.Broadcaster.Hex(), rep.Permit)
		}
		if rep.Domain.ChainID == nil || rep.Domain.ChainID.Int64() != 31337 || rep.Domain.Name != sign.DomainName {
			t.Errorf("domain %+v", rep.Domain)
		}
		for _, seq := range fx.signedSeqs {
			s := vfSegmentReport(t, rep, seq)
			if s.Pixels == nil || *s.Pixels != fx.pixels[seq] || *s.Pixels == 0 {
				t.Errorf("segment %d: %v pixels, the receipt has %d", seq, s.Pixels, fx.pixels[seq])
			}
			if *s.Orchestrator != fx.oKey.Address || *s.Transcoder != fx.tKey.Address || s.DurationMs != 1000 {
				t.Errorf("segment %d: %+v", seq, s)
			}
			if !reflect.DeepEqual(s.Renditions, []string{"source", "180p", "odd"}) {
				t.Errorf("segment %d renditions %q", seq, s.Renditions)
			}
		}
		u := vfSegmentReport(t, rep, fx.unsignedSeq)
		if u.Status != StatusUnsigned || len(u.Reasons) != 1 || !strings.Contains(u.Reasons[0], "unreachable") {
			t.Errorf("unsigned segment: %+v", u)
		}
		wantParties := []Party{
			{RolePublisher, fx.pub.Address, 2}, {RoleBroadcaster, fx.bKey.Address, 2},
			{RoleOrchestrator, fx.oKey.Address, 2}, {RoleTranscoder, fx.tKey.Address, 2},
		}
		if !reflect.DeepEqual(rep.Parties, wantParties) {
			t.Errorf("parties %+v, want %+v", rep.Parties, wantParties)
		}
		for _, s := range []string{"seq 0  ok", "seq 2  unsigned", "publisher     " + fx.pub.Address.Hex() + "  2 segments",
			"3 segments: 2 ok, 0 MISMATCHED, 1 unsigned"} {
			if !strings.Contains(buf.String(), s) {
				t.Errorf("report lacks %q", s)
			}
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Error(err)
		}
	})

	t.Run("rendition byte flipped", func(t *testing.T) {
		dir := fx.copy(t)
		vfFlip(t, filepath.Join(dir, "180p", "1.ts"))
		vfWantMismatch(t, vfVerify(t, dir), 1, "rendition 180p (180p/1.ts): keccak256", "but the receipt and the transcode result say")
	})

	t.Run("source byte flipped", func(t *testing.T) {
		dir := fx.copy(t)
		vfFlip(t, filepath.Join(dir, SourceDir, "0.ts"))
		vfWantMismatch(t, vfVerify(t, dir), 0, "source "+SourceDir+"/0.ts: keccak256", "the signed segment record says")
	})

	t.Run("receipt signed by another key", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditSegment(t, dir, 1, func(e *Entry) {
			rc := mustOpen[sign.TranscodeReceipt](t, fx.d, e.Proof.Answer.Receipt)
			e.Proof.Answer.Receipt = mustSeal(t, fx.other, fx.d, rc)
		})
		vfWantMismatch(t, vfVerify(t, dir), 1, "receipt signed by "+fx.other.Address.Hex()+", but it names orchestrator "+fx.oKey.Address.Hex())
	})

	t.Run("pixels changed and re-signed", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditSegment(t, dir, 0, func(e *Entry) {
			rc := mustOpen[sign.TranscodeReceipt](t, fx.d, e.Proof.Answer.Receipt)
			rc.Pixels += 76800
			e.Proof.Answer.Receipt = mustSeal(t, fx.oKey, fx.d, rc)
		})
		rep := vfVerify(t, dir)
		vfWantMismatch(t, rep, 0, "pixels: the receipt claims "+strconv.FormatUint(fx.pixels[0]+76800, 10)+", the renditions hold "+strconv.FormatUint(fx.pixels[0], 10))
		if s := vfSegmentReport(t, rep, 0); len(s.Reasons) != 1 {
			t.Errorf("only the pixel count is wrong, yet: %q", s.Reasons)
		}
	})

	t.Run("renditions swapped", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditSegment(t, dir, 1, func(e *Entry) { e.Renditions[1], e.Renditions[2] = e.Renditions[2], e.Renditions[1] })
		vfWantMismatch(t, vfVerify(t, dir), 1, "rendition odd (odd/1.ts): its bytes are rendition #3 (180p) of the receipt and the transcode result, not #2: the renditions are out of order")
	})

	t.Run("profiles logged are not the ones signed", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditSegment(t, dir, 1, func(e *Entry) {
			if len(e.Profiles) == 0 {
				t.Fatal("the fixture logged no profiles")
			}
			e.Profiles[len(e.Profiles)-1].Bitrate++
		})
		vfWantMismatch(t, vfVerify(t, dir), 1, "the profiles logged are not the ones the segment record commits to")
	})

	t.Run("a rendition nobody asked for", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditSegment(t, dir, 1, func(e *Entry) { e.Profiles = e.Profiles[:len(e.Profiles)-1] })
		vfWantMismatch(t, vfVerify(t, dir), 1, "rendition odd was not asked for")
	})

	t.Run("segment signed by another key", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditSegment(t, dir, 0, func(e *Entry) {
			seg := mustOpen[sign.Segment](t, fx.d, e.Proof.Segment)
			e.Proof.Segment = mustSeal(t, fx.other, fx.d, seg)
		})
		vfWantMismatch(t, vfVerify(t, dir), 0, "segment record signed by "+fx.other.Address.Hex()+", not the broadcaster "+fx.bKey.Address.Hex())
	})

	t.Run("segment record for another seq", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditSegment(t, dir, 0, func(e *Entry) {
			seg := mustOpen[sign.Segment](t, fx.d, e.Proof.Segment)
			seg.Seq = 5
			e.Proof.Segment = mustSeal(t, fx.bKey, fx.d, seg)
		})
		vfWantMismatch(t, vfVerify(t, dir), 0, "segment record is for seq 5, the log line for seq 0")
	})

	t.Run("permit for another broadcaster", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditLog(t, dir, func(e *Entry) {
			if e.Kind == KindPermit {
				p := fx.permit
				p.Broadcaster = fx.other.Address
				s := mustSeal(t, fx.pub, fx.d, p)
				e.Permit = &s
			}
		})
		rep := vfVerify(t, dir)
		if rep.OK(false) {
			t.Fatal("a permit for another broadcaster verifies")
		}
		if len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0], "it lets broadcaster "+fx.other.Address.Hex()) {
			t.Errorf("problems %q", rep.Problems)
		}
		// The segments link the permit the broadcaster was shown, not this one.
		for _, seq := range fx.signedSeqs {
			s := vfSegmentReport(t, rep, seq)
			if s.Status != StatusMismatch || !strings.Contains(strings.Join(s.Reasons, "\n"), "not the log's permit") {
				t.Errorf("segment %d: %s %q", seq, s.Status, s.Reasons)
			}
		}
	})

	t.Run("permit signed by someone else", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditLog(t, dir, func(e *Entry) {
			if e.Kind == KindPermit {
				s := mustSeal(t, fx.other, fx.d, fx.permit)
				e.Permit = &s
			}
		})
		rep := vfVerify(t, dir)
		if rep.OK(false) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "signed by "+fx.other.Address.Hex()+", not the publisher") {
			t.Errorf("problems %q", rep.Problems)
		}
	})

	t.Run("rendition deleted", func(t *testing.T) {
		dir := fx.copy(t)
		if err := os.Remove(filepath.Join(dir, "odd", "0.ts")); err != nil {
			t.Fatal(err)
		}
		vfWantMismatch(t, vfVerify(t, dir), 0, "rendition odd (odd/0.ts): missing")
	})

	t.Run("source deleted", func(t *testing.T) {
		dir := fx.copy(t)
		if err := os.Remove(filepath.Join(dir, SourceDir, "1.ts")); err != nil {
			t.Fatal(err)
		}
		vfWantMismatch(t, vfVerify(t, dir), 1, "source "+SourceDir+"/1.ts: missing")
	})

	t.Run("source rendition and signed source share a path", func(t *testing.T) {
		dir := fx.copy(t)
		vfEditSegment(t, dir, 0, func(e *Entry) { e.Source = e.Renditions[0].File })
		vfWantMismatch(t, vfVerify(t, dir), 0, "rendition source (source/0.ts): the signed source segment is kept at this same path")
	})

	t.Run("unsigned strict", func(t *testing.T) {
		rep := vfVerify(t, fx.dir)
		if !rep.OK(false) || rep.OK(true) {
			t.Errorf("OK(false) %v OK(true) %v, want true, false", rep.OK(false), rep.OK(true))
		}
	})

	t.Run("expected broadcaster", func(t *testing.T) {
		rep, err := VerifyWith(t.Context(), DirSource(fx.dir), VerifyOptions{Broadcaster: fx.other.Address})
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK(false) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "not "+fx.other.Address.Hex()) {
			t.Errorf("problems %q", rep.Problems)
		}
		rep, err = VerifyWith(t.Context(), DirSource(fx.dir), VerifyOptions{Broadcaster: fx.bKey.Address, Workers: 1})
		if err != nil || !rep.OK(false) {
			t.Errorf("with the right broadcaster: %v %q", err, rep.Problems)
		}
	})

	t.Run("progress", func(t *testing.T) {
		var calls []int
		_, err := VerifyWith(t.Context(), DirSource(fx.dir), VerifyOptions{Progress: func(done, total int) {
			if total != 3 {
				t.Errorf("total %d", total)
			}
			calls = append(calls, done)
		}})
		if err != nil || !reflect.DeepEqual(calls, []int{1, 2, 3}) {
			t.Errorf("progress %v, %v", calls, err)
		}
	})

	t.Run("torn final line", func(t *testing.T) {
		dir := fx.copy(t)
		vfAppend(t, filepath.Join(dir, CustodyFile), `{"kind":"segment","seq":3,"source":"custody.d/3.ts","rendi`)
		rep := vfVerify(t, dir)
		if !rep.OK(false) || rep.Totals.Segments != 3 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "line 6: a torn final line") {
			t.Errorf("OK %v totals %+v notes %q", rep.OK(false), rep.Totals, rep.Notes)
		}
	})

	t.Run("garbage line", func(t *testing.T) {
		for name, c := range map[string]struct {
			mangle func([][]byte) [][]byte
			want   string
		}{
			"not json":     {func(ls [][]byte) [][]byte { return vfInsert(ls, 2, []byte("hello")) }, "line 3: not a custody entry"},
			"blank":        {func(ls [][]byte) [][]byte { return vfInsert(ls, 3, nil) }, "line 4"},
			"unknown kind": {func(ls [][]byte) [][]byte { return vfInsert(ls, 2, []byte(`{"kind":"payment"}`)) }, `line 3: unknown kind "payment"`},
			"unknown field": {func(ls [][]byte) [][]byte {
				return vfInsert(ls, 2, []byte(`{"kind":"segment","seq":1,"source":"a/1.ts","unsigned":"x","extra":1}`))
			}, "line 3"},
			"traversal": {func(ls [][]byte) [][]byte {
				return vfInsert(ls, 2, []byte(`{"kind":"segment","seq":1,"source":"../../etc/passwd","unsigned":"x"}`))
			}, "line 3: source: custody: bad path"},
			"absolute": {func(ls [][]byte) [][]byte {
				return vfInsert(ls, 2, []byte(`{"kind":"segment","seq":1,"source":"/etc/passwd","unsigned":"x"}`))
			}, "line 3: source"},
			"rendition path": {func(ls [][]byte) [][]byte {
				return vfInsert(ls, 2, []byte(`{"kind":"segment","seq":1,"source":"a/1.ts","renditions":[{"name":"x","file":"x/../../y"}],"unsigned":"x"}`))
			}, "line 3: rendition x"},
			"no node line": {func(ls [][]byte) [][]byte { return ls[1:] }, "line 1 is a permit line"},
			"node fields": {func(ls [][]byte) [][]byte {
				return vfInsert(ls[1:], 0, []byte(`{"kind":"node","broadcaster":"0x0000000000000000000000000000000000000001"}`))
			}, `line 1: a node line needs "domain"`},
			"torn not final": {func(ls [][]byte) [][]byte { ls[3] = ls[3][:40]; return ls }, "line 4"},
			"both proof kind": {func(ls [][]byte) [][]byte {
				return vfInsert(ls, 2, []byte(`{"kind":"segment","seq":1,"source":"a/1.ts"}`))
			}, `line 3: a segment line needs "proof", or "unsigned"`},
		} {
			t.Run(name, func(t *testing.T) {
				dir := fx.copy(t)
				path := filepath.Join(dir, CustodyFile)
				raw, _ := os.ReadFile(path)
				lines := c.mangle(bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")))
				vfWrite(t, path, append(bytes.Join(lines, []byte("\n")), '\n'))
				_, err := Verify(t.Context(), DirSource(dir))
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %v, want %q", err, c.want)
				}
			})
		}
	})

	t.Run("second permit and node lines", func(t *testing.T) {
		dir := fx.copy(t)
		path := filepath.Join(dir, CustodyFile)
		raw, _ := os.ReadFile(path)
		lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
		lines = append(lines, lines[0], lines[1])
		vfWrite(t, path, append(bytes.Join(lines, []byte("\n")), '\n'))
		rep := vfVerify(t, dir)
		if rep.OK(false) || len(rep.Problems) != 2 {
			t.Errorf("problems %q", rep.Problems)
		}
	})

	t.Run("duplicate seq", func(t *testing.T) {
		dir := fx.copy(t)
		path := filepath.Join(dir, CustodyFile)
		raw, _ := os.ReadFile(path)
		lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
		lines = append(lines, lines[2])
		vfWrite(t, path, append(bytes.Join(lines, []byte("\n")), '\n'))
		rep := vfVerify(t, dir)
		s := rep.Segments[len(rep.Segments)-1]
		if rep.OK(false) || s.Status != StatusMismatch || !strings.Contains(strings.Join(s.Reasons, ";"), "seq 0 is already on line 3") {
			t.Errorf("%+v", s)
		}
	})

	t.Run("anonymous stream", func(t *testing.T) {
		// Without the permit line, the segments link a permit the log lacks.
		dir := fx.copy(t)
		path := filepath.Join(dir, CustodyFile)
		raw, _ := os.ReadFile(path)
		lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
		lines = append(lines[:1], lines[2:]...)
		vfWrite(t, path, append(bytes.Join(lines, []byte("\n")), '\n'))
		rep := vfVerify(t, dir)
		s := vfSegmentReport(t, rep, 0)
		if rep.OK(false) || !strings.Contains(strings.Join(s.Reasons, ";"), "but the log has no permit") {
			t.Errorf("%+v", s)
		}
	})

	t.Run("missing log", func(t *testing.T) {
		_, err := Verify(t.Context(), DirSource(t.TempDir()))
		if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no custody.jsonl") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("http", func(t *testing.T) {
		tampered := fx.copy(t)
		if err := os.Remove(filepath.Join(tampered, "odd", "0.ts")); err != nil {
			t.Fatal(err)
		}
		vfFlip(t, filepath.Join(tampered, "180p", "1.ts"))
		dirs := map[string]string{"cam": fx.dir, "bad": tampered}
		mux := http.NewServeMux()
		mux.Handle("/custody/", CustodyHandler(func(s string) (string, bool) { d, ok := dirs[s]; return d, ok }))
		srv := httptest.NewServer(mux)
		defer srv.Close()
		for name, dir := range dirs {
			want := vfVerify(t, dir)
			src, err := HTTPSource(srv.URL+"/custody/"+name, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			got, err := Verify(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			if got.Source != srv.URL+"/custody/"+name+"/" {
				t.Errorf("source %q", got.Source)
			}
			got.Source, want.Source = "", ""
			if !reflect.DeepEqual(got, want) {
				gj, _ := json.MarshalIndent(got, "", " ")
				wj, _ := json.MarshalIndent(want, "", " ")
				t.Errorf("%s: over HTTP:\n%s\nfrom the directory:\n%s", name, gj, wj)
			}
		}
		if _, err := Verify(t.Context(), must(HTTPSource(srv.URL+"/custody/nope/", nil))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("unknown stream: %v", err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func vfFlip(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	vfWrite(t, path, b)
}

func vfAppend(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func vfInsert(ls [][]byte, i int, l []byte) [][]byte {
	out := append([][]byte{}, ls[:i]...)
	out = append(out, l)
	return append(out, ls[i:]...)
}

// TestMeasurePictureAgreesWithPixels checks, on real ffmpeg output, that
// the size the H.264 SPS gives (after cropping) is the size the
// transcoder reports, so Pixels and a verifier agree.
func TestMeasurePictureAgreesWithPixels(t *testing.T) {
	vfNeedFFmpeg(t)
	ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	for _, c := range []struct {
		w, h     int
		profiles []transcode.Profile
	}{
		{320, 240, vfProfiles},
		{1280, 720, append([]transcode.Profile{transcode.SourceProfile()}, transcode.DefaultLadder()...)},
		{640, 480, []transcode.Profile{
			{Name: "wide", Width: 426, Height: 240, Bitrate: 200_000, FPS: 30},
			{Name: "tiny", Width: 98, Height: 62, Bitrate: 60_000, FPS: 10},
			{Name: "tall", Width: 144, Height: 256, Bitrate: 100_000, FPS: 24},
		}},
	} {
		t.Run(strconv.Itoa(c.w)+"x"+strconv.Itoa(c.h), func(t *testing.T) {
			src := vfSegment(t, c.w, c.h, "testsrc2")
			rends, err := ff.Transcode(t.Context(), transcode.Job{Seq: 1, Input: bytes.NewReader(src), Profiles: c.profiles,
				SourceWidth: c.w, SourceHeight: c.h})
			if err != nil {
				t.Fatal(err)
			}
			want, err := Pixels(rends)
			if err != nil {
				t.Fatal(err)
			}
			var got uint64
			for _, r := range rends {
				p, err := MeasurePicture(r.Data)
				if err != nil {
					t.Fatalf("%s: %v", r.Profile.Name, err)
				}
				if p.Width != r.Width || p.Height != r.Height {
					t.Errorf("%s: SPS says %dx%d, the transcoder reports %dx%d", r.Profile.Name, p.Width, p.Height, r.Width, r.Height)
				}
				if p.Frames == 0 || p.Pixels != uint64(r.Width)*uint64(r.Height)*uint64(p.Frames) {
					t.Errorf("%s: %d frames, %d pixels; the transcoder's size gives %d", r.Profile.Name, p.Frames,
						p.Pixels, uint64(r.Width)*uint64(r.Height)*uint64(p.Frames))
				}
				t.Logf("%s: %dx%d × %d frames", r.Profile.Name, p.Width, p.Height, p.Frames)
				if !r.Profile.IsSource() {
					got += p.Pixels
				}
			}
			if got != want {
				t.Errorf("pixels from the bytes %d, Pixels %d", got, want)
			}
		})
	}
}

func TestMeasurePictureRefusesGarbage(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":   nil,
		"garbage": bytes.Repeat([]byte{0x47, 1, 2, 3}, 200),
	} {
		p, err := MeasurePicture(b)
		if err == nil && p.Frames != 0 {
			t.Errorf("%s: %+v", name, p)
		}
	}
}

func TestSourcesRefuseTraversal(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cam")
	vfWrite(t, filepath.Join(dir, CustodyFile), []byte("{}\n"))
	vfWrite(t, filepath.Join(dir, "180p", "1.ts"), []byte("ts"))
	vfWrite(t, filepath.Join(root, "secret", "1.ts"), []byte("secret"))
	vfWrite(t, filepath.Join(root, "secret.jsonl"), []byte("secret"))
	if err := os.Symlink(filepath.Join(root, "secret"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "secret.jsonl"), filepath.Join(dir, "link.jsonl")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(CustodyHandler(func(s string) (string, bool) { return dir, s == "cam" }))
	defer srv.Close()
	hsrc, err := HTTPSource(srv.URL+"/custody/cam/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, src := range []Source{DirSource(dir), hsrc} {
		for _, name := range []string{"../secret/1.ts", "/etc/passwd", "180p/../../secret/1.ts", "./custody.jsonl",
			"180p//1.ts", "180p\\1.ts", "", ".", "..", "c:/x", "a/\x00"} {
			if rc, err := src.Open(ctx, name); !errors.Is(err, ErrPath) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("%s: Open(%q) = %v, want ErrPath", src, name, err)
			}
		}
		// A symbolic link out of the directory is refused too (as
		// missing over HTTP, where the handler 404s it).
		if rc, err := src.Open(ctx, "escape/1.ts"); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			t.Errorf("%s: read %q through a link out of the directory", src, b)
		}
		rc, err := src.Open(ctx, "180p/1.ts")
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		rc.Close()
		if _, err := src.Open(ctx, "180p/2.ts"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: missing file: %v", src, err)
		}
	}

	h := CustodyHandler(func(s string) (string, bool) { return dir, s == "cam" })
	for _, p := range []string{
		"/custody/cam/../secret/1.ts", "/custody/cam/%2e%2e/secret/1.ts", "/custody/cam/180p%2F1.ts",
		"/custody/cam/escape/1.ts", "/custody/cam/link.jsonl", "/custody/cam/180p/01.ts", "/custody/cam/180p/1.ts.tmp",
		"/custody/cam/180p/index.m3u8", "/custody/cam/a/b/1.ts", "/custody/cam/", "/custody/cam", "/custody/",
		"/custody/other/custody.jsonl", "/custody/../cam/custody.jsonl", "/custody/cam/custody.jsonl/",
		"/custody/cam/Bad/1.ts", "/custody/cam/180p/-1.ts", "/custody/cam/180p/99999999999999999999999.ts",
		"/custody/c.m/custody.jsonl", "/other/cam/custody.jsonl", "/custody/cam/custody.d/../custody.jsonl",
	} {
		req := httptest.NewRequest(http.MethodGet, p, nil) // as sent: no dot segments removed
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", p, w.Code, w.Body.String())
		}
	}
	for _, c := range []struct{ method, path, ctype string }{
		{http.MethodGet, "/custody/cam/custody.jsonl", "application/x-ndjson"},
		{http.MethodHead, "/custody/cam/custody.jsonl", "application/x-ndjson"},
		{http.MethodGet, "/custody/cam/180p/1.ts", "video/mp2t"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != c.ctype {
			t.Errorf("%s %s: %d %q", c.method, c.path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	vfWrite(t, filepath.Join(dir, SourceDir, "1.ts"), []byte("src"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/custody/cam/"+SourceDir+"/1.ts", nil))
	if w.Code != http.StatusOK || w.Body.String() != "src" {
		t.Errorf("signed source: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/custody/cam/custody.jsonl", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

func TestHTTPSourceURL(t *testing.T) {
	for _, bad := range []string{"ftp://x/custody/cam/", "http:///custody/cam/", "http://x/custody/cam/?a=1", "::"} {
		if _, err := HTTPSource(bad, nil); err == nil {
			t.Errorf("HTTPSource(%q) accepted", bad)
		}
	}
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath())
		w.Write([]byte("x"))
	}))
	defer srv.Close()
	src := must(HTTPSource(srv.URL+"/custody/cam", nil))
	for _, name := range []string{CustodyFile, "custody.d/3.ts", "a b/1.ts", "q?x/1.ts"} {
		rc, err := src.Open(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	want := []string{"/custody/cam/custody.jsonl", "/custody/cam/custody.d/3.ts", "/custody/cam/a%20b/1.ts", "/custody/cam/q%3Fx/1.ts"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths %q, want %q", got, want)
	}
}

func TestRecordLinksASourceAlreadyStoredAsCut(t *testing.T) {
	dir := t.TempDir()
	src := []byte("a -source-only segment, stored as cut")
	stored := filepath.Join(dir, "source", "0.ts")
	if err := os.MkdirAll(filepath.Dir(stored), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stored, src, 0o644); err != nil {
		t.Fatal(err)
	}
	b := NewBroadcaster(BroadcasterConfig{Key: vfKey(t), Domain: utDomain()})
	for seq, file := range map[uint64]string{0: stored, 1: filepath.Join(dir, "missing.ts")} {
		if err := b.Record(Published{Dir: dir, Stream: "s", Seq: seq, Source: src, Names: []string{"source"},
			SourceFile: file}); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := os.Stat(filepath.Join(dir, SourceDir, "0.ts"))
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.Stat(stored)
	if !os.SameFile(kept, orig) {
		t.Error("segment 0's custody copy is not a link to the stored source")
	}
	// A SourceFile that is not there falls back to a copy of the bytes.
	if got, err := os.ReadFile(filepath.Join(dir, SourceDir, "1.ts")); err != nil || string(got) != string(src) {
		t.Errorf("segment 1's custody copy: %q, %v", got, err)
	}
}
