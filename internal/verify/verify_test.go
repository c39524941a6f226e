package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/trust"
	"github.com/castnet/castnet/internal/verify/verifytest"
)

func TestVerifyCustody(t *testing.T) {
	fx := newVerifyFixture(t)

	t.Run("intact", func(t *testing.T) {
		rep := vfVerify(t, fx.Dir)
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
		want := Totals{Segments: 3, OK: 2, Unsigned: 1, Pixels: fx.Pixels[0] + fx.Pixels[1]}
		if rep.Totals != want {
			t.Errorf("totals %+v, want %+v", rep.Totals, want)
		}
		if rep.Stream != verifytest.Stream || rep.Broadcaster != fx.Broadcaster.Address || rep.Permit == nil ||
			rep.Permit.Publisher != fx.Publisher.Address || rep.Permit.Digest != sign.PermitDigest(fx.Domain, fx.Permit) {
			t.Errorf("stream %q broadcaster %s permit %+v", rep.Stream, rep.Broadcaster.Hex(), rep.Permit)
		}
		if rep.Domain.ChainID == nil || rep.Domain.ChainID.Int64() != 31337 || rep.Domain.Name != sign.DomainName {
			t.Errorf("domain %+v", rep.Domain)
		}
		for _, seq := range fx.signedSeqs {
			s := vfSegmentReport(t, rep, seq)
			if s.Pixels == nil || *s.Pixels != fx.Pixels[seq] || *s.Pixels == 0 {
				t.Errorf("segment %d: %v pixels, the receipt has %d", seq, s.Pixels, fx.Pixels[seq])
			}
			if *s.Orchestrator != fx.Orchestrator.Address || *s.Transcoder != fx.Transcoder.Address || s.DurationMs != 1000 {
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
			{RolePublisher, fx.Publisher.Address, 2}, {RoleBroadcaster, fx.Broadcaster.Address, 2},
			{RoleOrchestrator, fx.Orchestrator.Address, 2}, {RoleTranscoder, fx.Transcoder.Address, 2},
		}
		if !reflect.DeepEqual(rep.Parties, wantParties) {
			t.Errorf("parties %+v, want %+v", rep.Parties, wantParties)
		}
		for _, s := range []string{"seq 0  ok", "seq 2  unsigned", "publisher     " + fx.Publisher.Address.Hex() + "  2 segments",
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
		dir := fx.Copy(t)
		vfFlip(t, filepath.Join(dir, "180p", "1.ts"))
		vfWantMismatch(t, vfVerify(t, dir), 1, "rendition 180p (180p/1.ts): SHA-256", "but the receipt and the transcode result say")
	})

	t.Run("source byte flipped", func(t *testing.T) {
		dir := fx.Copy(t)
		vfFlip(t, filepath.Join(dir, trust.SourceDir, "0.ts"))
		vfWantMismatch(t, vfVerify(t, dir), 0, "source "+trust.SourceDir+"/0.ts: keccak256", "the signed segment record says")
	})

	t.Run("receipt signed by another key", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditSegment(t, dir, 1, func(e *trust.Entry) {
			rc := opened[sign.TranscodeReceipt](t, fx.Domain, e.Proof.Answer.Receipt)
			e.Proof.Answer.Receipt = reseal(fx.other, fx.Domain, rc)
		})
		vfWantMismatch(t, vfVerify(t, dir), 1, "receipt signed by "+fx.other.Address.Hex()+", but it names orchestrator "+fx.Orchestrator.Address.Hex())
	})

	t.Run("pixels changed and re-signed", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditSegment(t, dir, 0, func(e *trust.Entry) {
			rc := opened[sign.TranscodeReceipt](t, fx.Domain, e.Proof.Answer.Receipt)
			rc.Pixels += 76800
			e.Proof.Answer.Receipt = reseal(fx.Orchestrator, fx.Domain, rc)
		})
		rep := vfVerify(t, dir)
		vfWantMismatch(t, rep, 0, "pixels: the receipt claims "+strconv.FormatUint(fx.Pixels[0]+76800, 10)+", the renditions hold "+strconv.FormatUint(fx.Pixels[0], 10))
		if s := vfSegmentReport(t, rep, 0); len(s.Reasons) != 1 {
			t.Errorf("only the pixel count is wrong, yet: %q", s.Reasons)
		}
	})

	t.Run("renditions swapped", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditSegment(t, dir, 1, func(e *trust.Entry) { e.Renditions[1], e.Renditions[2] = e.Renditions[2], e.Renditions[1] })
		vfWantMismatch(t, vfVerify(t, dir), 1, "rendition odd (odd/1.ts): its bytes are rendition #3 (180p) of the receipt and the transcode result, not #2: the renditions are out of order")
	})

	t.Run("profiles logged are not the ones signed", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditSegment(t, dir, 1, func(e *trust.Entry) {
			if len(e.Profiles) == 0 {
				t.Fatal("the fixture logged no profiles")
			}
			e.Profiles[len(e.Profiles)-1].Bitrate++
		})
		vfWantMismatch(t, vfVerify(t, dir), 1, "the profiles logged are not the ones the segment record commits to")
	})

	t.Run("a rendition nobody asked for", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditSegment(t, dir, 1, func(e *trust.Entry) { e.Profiles = e.Profiles[:len(e.Profiles)-1] })
		vfWantMismatch(t, vfVerify(t, dir), 1, "rendition odd was not asked for")
	})

	t.Run("segment signed by another key", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditSegment(t, dir, 0, func(e *trust.Entry) {
			seg := opened[sign.Segment](t, fx.Domain, e.Proof.Segment)
			e.Proof.Segment = reseal(fx.other, fx.Domain, seg)
		})
		vfWantMismatch(t, vfVerify(t, dir), 0, "segment record signed by "+fx.other.Address.Hex()+", not the broadcaster "+fx.Broadcaster.Address.Hex())
	})

	t.Run("segment record for another seq", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditSegment(t, dir, 0, func(e *trust.Entry) {
			seg := opened[sign.Segment](t, fx.Domain, e.Proof.Segment)
			seg.Seq = 5
			e.Proof.Segment = reseal(fx.Broadcaster, fx.Domain, seg)
		})
		vfWantMismatch(t, vfVerify(t, dir), 0, "segment record is for seq 5, the log line for seq 0")
	})

	t.Run("permit for another broadcaster", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditLog(t, dir, func(e *trust.Entry) {
			if e.Kind == trust.KindPermit {
				p := fx.Permit
				p.Broadcaster = fx.other.Address
				s := reseal(fx.Publisher, fx.Domain, p)
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
		dir := fx.Copy(t)
		vfEditLog(t, dir, func(e *trust.Entry) {
			if e.Kind == trust.KindPermit {
				s := reseal(fx.other, fx.Domain, fx.Permit)
				e.Permit = &s
			}
		})
		rep := vfVerify(t, dir)
		if rep.OK(false) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "signed by "+fx.other.Address.Hex()+", not the publisher") {
			t.Errorf("problems %q", rep.Problems)
		}
	})

	t.Run("rendition deleted", func(t *testing.T) {
		dir := fx.Copy(t)
		if err := os.Remove(filepath.Join(dir, "odd", "0.ts")); err != nil {
			t.Fatal(err)
		}
		vfWantMismatch(t, vfVerify(t, dir), 0, "rendition odd (odd/0.ts): missing")
	})

	t.Run("source deleted", func(t *testing.T) {
		dir := fx.Copy(t)
		if err := os.Remove(filepath.Join(dir, trust.SourceDir, "1.ts")); err != nil {
			t.Fatal(err)
		}
		vfWantMismatch(t, vfVerify(t, dir), 1, "source "+trust.SourceDir+"/1.ts: missing")
	})

	t.Run("source rendition and signed source share a path", func(t *testing.T) {
		dir := fx.Copy(t)
		vfEditSegment(t, dir, 0, func(e *trust.Entry) { e.Source = e.Renditions[0].File })
		vfWantMismatch(t, vfVerify(t, dir), 0, "rendition source (source/0.ts): the signed source segment is kept at this same path")
	})

	// What the pixels bill for is checked as the sealer checks it, though
	// every party signed the lie.
	t.Run("a rendition larger than asked, signed for by all", func(t *testing.T) {
		dir := fx.Copy(t)
		big := vfRead(t, filepath.Join(dir, trust.SourceDir, "0.ts")) // 320x240: 180p asks 240x180
		verifytest.Write(t, filepath.Join(dir, "180p", "0.ts"), big)
		fx.forge(t, dir, 0, func(_ *sign.Segment, rc *sign.TranscodeReceipt, res *sign.TranscodeResult) {
			rc.Renditions[1], res.Renditions[1] = trust.RenditionHash(big), trust.RenditionHash(big)
			rc.Pixels, res.Pixels = vfPixels(t, dir, "180p/0.ts", "odd/0.ts"), vfPixels(t, dir, "180p/0.ts", "odd/0.ts")
		})
		rep := vfVerify(t, dir)
		vfWantMismatch(t, rep, 0, "rendition 180p (180p/0.ts): its SPS says 320x240, the job asked for 240x180")
		if s := vfSegmentReport(t, rep, 0); len(s.Reasons) != 1 {
			t.Errorf("only the size is wrong, yet: %q", s.Reasons)
		}
	})

	t.Run("a source whose picture cannot be read, signed for by all", func(t *testing.T) {
		dir := fx.Copy(t)
		junk := []byte("not an MPEG-TS segment")
		verifytest.Write(t, filepath.Join(dir, trust.SourceDir, "1.ts"), junk)
		fx.forge(t, dir, 1, func(seg *sign.Segment, rc *sign.TranscodeReceipt, res *sign.TranscodeResult) {
			seg.Hash, rc.Segment, res.Segment = sign.Keccak(junk), sign.Keccak(junk), sign.Keccak(junk)
		})
		vfWantMismatch(t, vfVerify(t, dir), 1, "source "+trust.SourceDir+"/1.ts: its picture size cannot be read")
	})

	t.Run("unsigned strict", func(t *testing.T) {
		rep := vfVerify(t, fx.Dir)
		if !rep.OK(false) || rep.OK(true) {
			t.Errorf("OK(false) %v OK(true) %v, want true, false", rep.OK(false), rep.OK(true))
		}
	})

	t.Run("expected broadcaster", func(t *testing.T) {
		rep, err := RunWith(t.Context(), DirSource(fx.Dir), Options{Broadcaster: fx.other.Address})
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK(false) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "not "+fx.other.Address.Hex()) {
			t.Errorf("problems %q", rep.Problems)
		}
		rep, err = RunWith(t.Context(), DirSource(fx.Dir), Options{Broadcaster: fx.Broadcaster.Address, Workers: 1})
		if err != nil || !rep.OK(false) {
			t.Errorf("with the right broadcaster: %v %q", err, rep.Problems)
		}
	})

	t.Run("progress", func(t *testing.T) {
		var calls []int
		_, err := RunWith(t.Context(), DirSource(fx.Dir), Options{Progress: func(done, total int) {
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
		dir := fx.Copy(t)
		vfAppend(t, filepath.Join(dir, trust.CustodyFile), `{"kind":"segment","seq":3,"source":"custody.d/3.ts","rendi`)
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
				dir := fx.Copy(t)
				path := filepath.Join(dir, trust.CustodyFile)
				raw, _ := os.ReadFile(path)
				lines := c.mangle(bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")))
				verifytest.Write(t, path, append(bytes.Join(lines, []byte("\n")), '\n'))
				_, err := Run(t.Context(), DirSource(dir))
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %v, want %q", err, c.want)
				}
			})
		}
	})

	t.Run("second permit and node lines", func(t *testing.T) {
		dir := fx.Copy(t)
		path := filepath.Join(dir, trust.CustodyFile)
		raw, _ := os.ReadFile(path)
		lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
		lines = append(lines, lines[0], lines[1])
		verifytest.Write(t, path, append(bytes.Join(lines, []byte("\n")), '\n'))
		rep := vfVerify(t, dir)
		// The node line again is a problem; the permit again is not (a
		// reconnected publisher's session starts with one), and it
		// vouches for no segment here.
		if rep.OK(false) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "a second node line") {
			t.Errorf("problems %q", rep.Problems)
		}
	})

	t.Run("duplicate seq", func(t *testing.T) {
		dir := fx.Copy(t)
		path := filepath.Join(dir, trust.CustodyFile)
		raw, _ := os.ReadFile(path)
		lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
		lines = append(lines, lines[2])
		verifytest.Write(t, path, append(bytes.Join(lines, []byte("\n")), '\n'))
		rep := vfVerify(t, dir)
		s := rep.Segments[len(rep.Segments)-1]
		if rep.OK(false) || s.Status != StatusMismatch || !strings.Contains(strings.Join(s.Reasons, ";"), "seq 0 is already on line 3") {
			t.Errorf("%+v", s)
		}
	})

	t.Run("anonymous stream", func(t *testing.T) {
		// Without the permit line, the segments link a permit the log lacks.
		dir := fx.Copy(t)
		path := filepath.Join(dir, trust.CustodyFile)
		raw, _ := os.ReadFile(path)
		lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
		lines = append(lines[:1], lines[2:]...)
		verifytest.Write(t, path, append(bytes.Join(lines, []byte("\n")), '\n'))
		rep := vfVerify(t, dir)
		s := vfSegmentReport(t, rep, 0)
		if rep.OK(false) || !strings.Contains(strings.Join(s.Reasons, ";"), "but the log has no permit") {
			t.Errorf("%+v", s)
		}
	})

	t.Run("missing log", func(t *testing.T) {
		_, err := Run(t.Context(), DirSource(t.TempDir()))
		if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no custody.jsonl") {
			t.Errorf("error %v", err)
		}
	})

	t.Run("http", func(t *testing.T) {
		tampered := fx.Copy(t)
		if err := os.Remove(filepath.Join(tampered, "odd", "0.ts")); err != nil {
			t.Fatal(err)
		}
		vfFlip(t, filepath.Join(tampered, "180p", "1.ts"))
		dirs := map[string]string{"cam": fx.Dir, "bad": tampered}
		mux := http.NewServeMux()
		mux.Handle("/custody/", trust.CustodyHandler(func(s string) (string, bool) { d, ok := dirs[s]; return d, ok }))
		srv := httptest.NewServer(mux)
		defer srv.Close()
		for name, dir := range dirs {
			want := vfVerify(t, dir)
			src, err := HTTPSource(srv.URL+"/custody/"+name, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			got, err := Run(t.Context(), src)
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
		if _, err := Run(t.Context(), must(HTTPSource(srv.URL+"/custody/nope/", nil))); !errors.Is(err, fs.ErrNotExist) {
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
	verifytest.Write(t, path, b)
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
