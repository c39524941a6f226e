package trust

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/ledger"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// The gate tests run an orchestrator's Gate against real tickets: a
// pm.Recipient and a pm.Sender on a real embedded ledger, funded.

// utJob is the segment the unit tests send: vfProfiles, 1 s.
func utJob(seq uint64) transcode.Job {
	return transcode.Job{Stream: vfStream, Seq: seq, Profiles: vfProfiles, SourceWidth: 320, SourceHeight: 240,
		Duration: func() time.Duration { return time.Second }}
}

// utRenditions is one real segment transcoded by ffmpeg to vfProfiles,
// made once per test binary (ffmpeg takes a while); callers get copies.
var utRenditions struct {
	mu    sync.Mutex
	src   []byte
	rends []transcode.Rendition
	px    uint64
}

// realRenditions returns a real source segment, its sum, its renditions
// (a copy: change them freely) and their pixels.
func realRenditions(t *testing.T) ([]byte, remote.SegmentSum, []transcode.Rendition, uint64) {
	t.Helper()
	vfNeedFFmpeg(t)
	c := &utRenditions
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rends == nil {
		src := vfSegment(t, 320, 240, "testsrc2")
		ff, err := transcode.NewFFmpeg(transcode.FFmpegConfig{TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		job := utJob(0)
		job.Input = bytes.NewReader(src)
		rends, err := ff.Transcode(t.Context(), job)
		ff.Close()
		if err != nil {
			t.Fatal(err)
		}
		px, err := Pixels(rends)
		if err != nil || px == 0 {
			t.Fatalf("%d pixels: %v", px, err)
		}
		c.src, c.rends, c.px = src, rends, px
	}
	rends := make([]transcode.Rendition, len(c.rends))
	for i, r := range c.rends {
		r.Data = bytes.Clone(r.Data)
		rends[i] = r
	}
	return c.src, remote.SegmentSum{Keccak: sign.Keccak(c.src), Size: int64(len(c.src))}, rends, c.px
}

// sourceRenditions are renditions that cost no pixels (passthroughs), for
// tests where only hashes matter.
func sourceRenditions(data ...string) []transcode.Rendition {
	var out []transcode.Rendition
	for _, d := range data {
		out = append(out, transcode.Rendition{Profile: transcode.SourceProfile(), Data: []byte(d)})
	}
	return out
}

func utSum(b []byte) remote.SegmentSum {
	return remote.SegmentSum{Keccak: sign.Keccak(b), Size: int64(len(b))}
}

// utSegmentHeader is a Castnet-Segment value: seg signed by k.
func utSegmentHeader(t *testing.T, k sign.Key, d sign.Domain, seg sign.Segment) string {
	t.Helper()
	v, err := encodeHeader(mustSeal(t, k, d, seg))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// utSegment is the record a broadcaster signs for job's bytes in.
func utSegment(job transcode.Job, in remote.SegmentSum) sign.Segment {
	return sign.Segment{Stream: job.Stream, Seq: job.Seq, DurationMs: 1000, Hash: in.Keccak, Profiles: ProfilesHash(job.Profiles)}
}

// paidNode is an orchestrator that charges, its ledger, and a funded
// broadcaster's ticket sender.
type paidNode struct {
	d     sign.Domain
	led   *ledger.Ledger
	oKey  sign.Key
	bKey  sign.Key
	price *big.Int
	rc    *pm.Recipient
	snd   *pm.Sender
	gate  *Orchestrator
	// liar answers as a lying orchestrator does (lyingAnswer), not
	// through gate.
	liar bool
}

// answer is adm's answer from n's gate, or from a liar when n is one.
func (n *paidNode) answer(adm remote.Admission, rends []transcode.Rendition) (http.Header, error) {
	if n.liar {
		return n.lyingAnswer(adm, rends)
	}
	return adm.Answer(rends)
}

func newPaidNode(t *testing.T, price int64) *paidNode {
	t.Helper()
	n := &paidNode{d: utDomain(), oKey: vfKey(t), bKey: vfKey(t), price: big.NewInt(price)}
	led, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	n.led = led
	eth := big.NewInt(1_000_000_000_000_000_000)
	if err := led.FundDeposit(t.Context(), n.bKey.Address, eth); err != nil {
		t.Fatal(err)
	}
	if err := led.FundReserve(t.Context(), n.bKey.Address, eth); err != nil {
		t.Fatal(err)
	}
	if n.rc, err = pm.NewRecipient(pm.RecipientConfig{Key: n.oKey, Broker: led, PricePerPixel: n.price}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.rc.Close() })
	if n.snd, err = pm.NewSender(pm.SenderConfig{Key: n.bKey, Broker: led}); err != nil {
		t.Fatal(err)
	}
	n.gate = NewOrchestrator(OrchestratorConfig{Key: n.oKey, Domain: n.d, Recipient: n.rc})
	return n
}

// payment is a Castnet-Payment value covering job at the gate's estimate.
func (n *paidNode) payment(t *testing.T, job transcode.Job) string {
	t.Helper()
	tp, ep, err := n.rc.Params(t.Context(), n.bKey.Address)
	if err != nil {
		t.Fatal(err)
	}
	// The sender sees the credit the orchestrator keeps (no sealer here
	// records the debits).
	n.snd.SetCredit(n.oKey.Address, n.rc.Balance(n.bKey.Address))
	need := new(big.Int).Mul(n.price, new(big.Int).SetUint64(EstimatePixels(job.Profiles, 2*time.Second)))
	p, err := n.snd.Pay(t.Context(), tp, ep, need)
	if err != nil {
		t.Fatal(err)
	}
	return pm.EncodePayment(p)
}

// utRequest is a transcode request with the given headers (name, value…).
func utRequest(kv ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/transcode", nil)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Set(kv[i], kv[i+1])
	}
	return r
}

// admitPaid admits job at n's gate with a fresh payment.
func (n *paidNode) admitPaid(t *testing.T, job transcode.Job, kv ...string) remote.Admission {
	t.Helper()
	adm, err := n.gate.Admit(utRequest(append([]string{remote.HeaderPayment, n.payment(t, job)}, kv...)...), job)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	return adm
}

// infoServer serves n's /api/info?sender= as an orchestrator does.
func (n *paidNode) infoServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/info" {
			http.NotFound(w, r)
			return
		}
		info := map[string]any{"address": n.oKey.Address.Hex(), "price_per_pixel": n.price.String()}
		if s := r.URL.Query().Get("sender"); s != "" {
			tp, ep, err := n.rc.Params(r.Context(), common.HexToAddress(s))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			info["ticket_params"], info["expiration_params"] = tp, ep
		}
		json.NewEncoder(w).Encode(info)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGateFree(t *testing.T) {
	d := utDomain()
	oKey, anyone := vfKey(t), vfKey(t)
	gate := NewOrchestrator(OrchestratorConfig{Key: oKey, Domain: d})
	job := utJob(4)
	in := utSum([]byte("segment bytes"))
	adm, err := gate.Admit(utRequest(), job)
	if err != nil {
		t.Fatalf("a free orchestrator wants: %v", err)
	}
	defer adm.Close()
	// Any broadcaster may sign: nobody paid.
	if err := adm.Input(utSegmentHeader(t, anyone, d, utSegment(job, in)), in); err != nil {
		t.Fatal(err)
	}
	rends := sourceRenditions("rendition")
	hdr, err := adm.Answer(rends)
	if err != nil {
		t.Fatal(err)
	}
	var a Answer
	if err := decodeHeader(remote.HeaderReceipt, hdr.Get(remote.HeaderReceipt), &a); err != nil {
		t.Fatal(err)
	}
	rc, who, err := open[sign.TranscodeReceipt](d, a.Receipt)
	if err != nil || who != oKey.Address || rc.Orchestrator != oKey.Address || rc.Transcoder != oKey.Address || rc.Segment != in.Keccak {
		t.Errorf("receipt %+v by %s: %v", rc, who.Hex(), err)
	}
	// Transcoding itself, the orchestrator signs the result too.
	res, who, err := open[sign.TranscodeResult](d, a.Result)
	if err != nil || who != oKey.Address || res.Transcoder != oKey.Address || res.Pixels != 0 {
		t.Errorf("result %+v by %s: %v", res, who.Hex(), err)
	}
	c := gate.Payments().(map[string]any)["charged"].(Charged)
	if c.Segments != 1 || c.Wei.Sign() != 0 {
		t.Errorf("charged %+v", c)
	}
	if _, err := adm.Answer(nil); err == nil {
		t.Error("an answer with no renditions")
	}
}

func TestGatePayment(t *testing.T) {
	n := newPaidNode(t, 3)
	job := utJob(1)

	t.Run("missing", func(t *testing.T) {
		_, err := n.gate.Admit(utRequest(), job)
		wantStatus(t, err, http.StatusPaymentRequired, "charges 3 wei per pixel", "GET /api/info?sender=", remote.HeaderPayment)
	})
	t.Run("garbage", func(t *testing.T) {
		for _, v := range []string{"!!!", "e30", "eyJzZW5kZXIiOjF9"} {
			_, err := n.gate.Admit(utRequest(remote.HeaderPayment, v), job)
			wantStatus(t, err, http.StatusPaymentRequired, "payment refused")
		}
	})
	t.Run("replayed", func(t *testing.T) {
		v := n.payment(t, job)
		adm, err := n.gate.Admit(utRequest(remote.HeaderPayment, v), job)
		if err != nil {
			t.Fatal(err)
		}
		adm.Close()
		_, err = n.gate.Admit(utRequest(remote.HeaderPayment, v), job)
		wantStatus(t, err, http.StatusPaymentRequired, "already received")
	})
	t.Run("for another orchestrator", func(t *testing.T) {
		other := newPaidNode(t, 3)
		_, err := n.gate.Admit(utRequest(remote.HeaderPayment, other.payment(t, job)), job)
		wantStatus(t, err, http.StatusPaymentRequired, "tickets are for "+other.oKey.Address.Hex())
	})
	t.Run("credit short", func(t *testing.T) {
		// A payment with no tickets from a sender with no credit.
		fresh := newPaidNode(t, 3)
		tp, ep, err := fresh.rc.Params(t.Context(), fresh.bKey.Address)
		if err != nil {
			t.Fatal(err)
		}
		p, err := fresh.snd.Pay(t.Context(), tp, ep, new(big.Int))
		if err != nil || len(p.Tickets) != 0 {
			t.Fatalf("%d tickets: %v", len(p.Tickets), err)
		}
		_, err = fresh.gate.Admit(utRequest(remote.HeaderPayment, pm.EncodePayment(p)), job)
		wantStatus(t, err, http.StatusPaymentRequired, "credit 0 wei, this segment needs about")
	})
	t.Run("paid", func(t *testing.T) {
		if _, err := n.gate.Admit(utRequest(remote.HeaderPayment, n.payment(t, job)), job); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGateInput(t *testing.T) {
	n := newPaidNode(t, 3)
	stranger := vfKey(t)
	job := utJob(5)
	in := utSum([]byte("the source segment"))
	good := utSegment(job, in)
	for name, c := range map[string]struct {
		header func() string
		status int
		want   []string
	}{
		"no segment header": {func() string { return "" }, http.StatusUnauthorized, []string{"send the " + remote.HeaderSegment}},
		"not base64":        {func() string { return "%%%" }, http.StatusUnauthorized, []string{"not base64url"}},
		"forged signature": {func() string {
			// A well-formed signature recovers someone: not the payer.
			s := mustSeal(t, n.bKey, n.d, good)
			s.Signature = bytes.Repeat([]byte{1}, 65)
			v, _ := encodeHeader(s)
			return v
		}, http.StatusUnauthorized, []string{"paid for by " + n.bKey.Address.Hex()}},
		"malformed signature": {func() string {
			s := mustSeal(t, n.bKey, n.d, good)
			s.Signature = s.Signature[:64]
			v, _ := encodeHeader(s)
			return v
		}, http.StatusUnauthorized, []string{"bad signed record: Segment"}},
		"signed by another than the payer": {func() string { return utSegmentHeader(t, stranger, n.d, good) }, http.StatusUnauthorized,
			[]string{"signed by " + stranger.Address.Hex() + ", paid for by " + n.bKey.Address.Hex()}},
		"other hash": {func() string {
			s := good
			s.Hash = sign.Keccak([]byte("other bytes"))
			return utSegmentHeader(t, n.bKey, n.d, s)
		}, http.StatusBadRequest, []string{"signed keccak256 " + sign.Keccak([]byte("other bytes")).Hex(), "received 18 bytes hashing to " + in.Keccak.Hex()}},
		"other stream": {func() string {
			s := good
			s.Stream = "cam2"
			return utSegmentHeader(t, n.bKey, n.d, s)
		}, http.StatusBadRequest, []string{`it names "cam2" segment 5, the request "cam" segment 5`}},
		"other seq": {func() string {
			s := good
			s.Seq = 6
			return utSegmentHeader(t, n.bKey, n.d, s)
		}, http.StatusBadRequest, []string{`it names "cam" segment 6, the request "cam" segment 5`}},
		"other profiles": {func() string {
			s := good
			s.Profiles = ProfilesHash(vfProfiles[:2])
			return utSegmentHeader(t, n.bKey, n.d, s)
		}, http.StatusBadRequest, []string{"the profiles asked for are not the ones signed"}},
		"other domain": {func() string {
			return utSegmentHeader(t, n.bKey, sign.DefaultDomain().WithChainID(big.NewInt(1)), good)
		}, http.StatusUnauthorized, []string{"signed by", "paid for by " + n.bKey.Address.Hex()}},
	} {
		t.Run(name, func(t *testing.T) {
			adm := n.admitPaid(t, job)
			err := adm.Input(c.header(), in)
			wantStatus(t, err, c.status, c.want...)
		})
	}

	t.Run("checked at admission when whole", func(t *testing.T) {
		_, err := n.gate.Admit(utRequest(remote.HeaderPayment, n.payment(t, job),
			remote.HeaderSegment, utSegmentHeader(t, stranger, n.d, good)), job)
		wantStatus(t, err, http.StatusUnauthorized, "paid for by "+n.bKey.Address.Hex())
		s := good
		s.Seq = 9
		_, err = n.gate.Admit(utRequest(remote.HeaderPayment, n.payment(t, job),
			remote.HeaderSegment, utSegmentHeader(t, n.bKey, n.d, s)), job)
		wantStatus(t, err, http.StatusBadRequest, "segment 9")
	})

	t.Run("good", func(t *testing.T) {
		adm := n.admitPaid(t, job, remote.HeaderSegment, utSegmentHeader(t, n.bKey, n.d, good))
		if err := adm.Input(utSegmentHeader(t, n.bKey, n.d, good), in); err != nil {
			t.Fatal(err)
		}
	})
}

// TestGateAnswerRefusesLyingTranscoder: a transcoder's signed result that
// does not describe the renditions it returned fails the segment (502),
// and nothing is charged.
func TestGateAnswerRefusesLyingTranscoder(t *testing.T) {
	n := newPaidNode(t, 3)
	tKey, stranger := vfKey(t), vfKey(t)
	src, in, rends, px := realRenditions(t)
	job := utJob(0)
	segHdr := utSegmentHeader(t, n.bKey, n.d, utSegment(job, in))
	honest := sign.TranscodeResult{Segment: in.Keccak, Renditions: renditionHashes(rends), Pixels: px, Transcoder: tKey.Address}
	result := func(k sign.Key, edit func(*sign.TranscodeResult)) string {
		r := honest
		r.Renditions = append([]common.Hash(nil), honest.Renditions...)
		edit(&r)
		v, err := encodeHeader(mustSeal(t, k, n.d, r))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for name, c := range map[string]struct {
		proof string
		want  string
	}{
		"other input": {result(tKey, func(r *sign.TranscodeResult) { r.Segment = sign.Keccak(append(src, 0)) }),
			"transcode result is for segment " + sign.Keccak(append(src, 0)).Hex() + ", the signed segment is " + in.Keccak.Hex()},
		"other renditions": {result(tKey, func(r *sign.TranscodeResult) {
			r.Renditions[1], r.Renditions[2] = r.Renditions[2], r.Renditions[1]
		}), "rendition 180p: its bytes are rendition #3 (odd) of the transcode result, not #2"},
		"a rendition missing": {result(tKey, func(r *sign.TranscodeResult) { r.Renditions = r.Renditions[:2] }),
			"transcode result hashes 2 renditions, the transcoder's answer lists 3"},
		"more pixels": {result(tKey, func(r *sign.TranscodeResult) { r.Pixels++ }),
			"the transcode result claims " + strconv.FormatUint(px+1, 10) + ", the renditions hold " + strconv.FormatUint(px, 10)},
		"signed by another": {result(stranger, func(*sign.TranscodeResult) {}),
			"transcode result signed by " + stranger.Address.Hex() + ", but it names transcoder " + tKey.Address.Hex()},
		"not base64": {"***", "not base64url"},
		"unknown field": {func() string {
			v, _ := encodeHeader(map[string]any{"record": json.RawMessage(`{}`), "signature": "0x", "extra": 1})
			return v
		}(), "unknown field"},
		"bad record": {func() string {
			s := mustSeal(t, tKey, n.d, honest)
			s.Record = json.RawMessage(`{"segment":"0x01"}`)
			v, _ := encodeHeader(s)
			return v
		}(), "bad signed record"},
	} {
		t.Run(name, func(t *testing.T) {
			adm := n.admitPaid(t, job)
			if err := adm.Input(segHdr, in); err != nil {
				t.Fatal(err)
			}
			lied := append([]transcode.Rendition(nil), rends...)
			for i := range lied {
				lied[i].Proof = c.proof
			}
			before := n.rc.Balance(n.bKey.Address)
			hdr, err := adm.Answer(lied)
			wantStatus(t, err, http.StatusBadGateway, c.want)
			if hdr != nil {
				t.Errorf("a receipt with the refusal: %v", hdr)
			}
			if after := n.rc.Balance(n.bKey.Address); after.Cmp(before) != 0 {
				t.Errorf("charged for a refused result: credit %s, was %s", after, before)
			}
		})
	}
	if c := n.gate.Payments().(map[string]any)["charged"].(Charged); c.Segments != 0 || c.Pixels != 0 || c.Wei.Sign() != 0 {
		t.Errorf("charged %+v for refused results", c)
	}
}

// TestGateHappyPath: a paid, signed segment, transcoded by a transcoder
// that vouches for it, gets a receipt that the broadcaster's sealer
// accepts; the orchestrator charges pixels × price.
func TestGateHappyPath(t *testing.T) {
	n := newPaidNode(t, 3)
	tKey := vfKey(t)
	_, in, rends, px := realRenditions(t)
	info := n.infoServer(t)
	b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd})
	s := b.ForNode(info.URL + "/")
	job := utJob(0)

	payHdr, err := s.Headers(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	segHdr, err := s.Segment(context.Background(), job, in)
	if err != nil {
		t.Fatal(err)
	}
	req := utRequest(remote.HeaderPayment, payHdr.Get(remote.HeaderPayment))
	adm, err := n.gate.Admit(req, job)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.Input(segHdr, in); err != nil {
		t.Fatal(err)
	}
	result, err := Vouch(tKey, n.d)(in, rends)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rends {
		rends[i].Proof = result
	}
	credit := n.rc.Balance(n.bKey.Address)
	hdr, err := adm.Answer(rends)
	if err != nil {
		t.Fatal(err)
	}
	cost := new(big.Int).Mul(n.price, new(big.Int).SetUint64(px))
	if got := new(big.Int).Sub(credit, n.rc.Balance(n.bKey.Address)); got.Cmp(cost) != 0 {
		t.Errorf("debited %s, want %s (%d pixels × %s)", got, cost, px, n.price)
	}

	proof, err := s.Answer(context.Background(), job, in, hdr, rends)
	if err != nil {
		t.Fatalf("the broadcaster refuses the orchestrator's receipt: %v", err)
	}
	var pr Proof
	if err := json.Unmarshal([]byte(proof), &pr); err != nil {
		t.Fatal(err)
	}
	seg := mustOpen[sign.Segment](t, n.d, pr.Segment)
	rc, orch, err := open[sign.TranscodeReceipt](n.d, pr.Answer.Receipt)
	if err != nil || orch != n.oKey.Address || rc.Transcoder != tKey.Address || rc.Pixels != px || seg.Hash != in.Keccak {
		t.Errorf("proof: receipt %+v by %s, segment %+v: %v", rc, orch.Hex(), seg, err)
	}
	// The broadcaster's view of its credit follows the orchestrator's.
	if sc, oc := n.snd.Credit(n.oKey.Address), n.rc.Balance(n.bKey.Address); sc.Cmp(oc) != 0 {
		t.Errorf("sender credit %s, the orchestrator's %s", sc, oc)
	}

	out, err := json.Marshal(n.gate.Payments())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Charged struct {
			Segments uint64 `json:"segments"`
			Pixels   uint64 `json:"pixels"`
			Wei      string `json:"wei"`
		} `json:"charged"`
		Tickets       pm.RecipientStats `json:"tickets"`
		PricePerPixel string            `json:"pricePerPixel"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Charged.Segments != 1 || got.Charged.Pixels != px || got.Charged.Wei != cost.String() ||
		got.PricePerPixel != "3" || got.Tickets.Payments != 1 || got.Tickets.Tickets == 0 {
		t.Errorf("payments %s, want 1 segment, %d pixels, %s wei", out, px, cost)
	}
}
