package trust

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// The sealer tests run a broadcaster's per-orchestrator sealer against an
// orchestrator's /api/info served by httptest.

// utInfo is an orchestrator's /api/info whose answer tests change.
type utInfo struct {
	mu      sync.Mutex
	address common.Address
	price   string
	// rc hands out ticket parameters; nil sends none.
	rc *pm.Recipient
	// status, when not 200, fails the request.
	status int
	hits   int
	srv    *httptest.Server
}

func newInfo(t *testing.T, address common.Address, price string, rc *pm.Recipient) *utInfo {
	t.Helper()
	in := &utInfo{address: address, price: price, rc: rc, status: http.StatusOK}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		defer in.mu.Unlock()
		in.hits++
		if r.URL.Path != "/api/info" {
			http.NotFound(w, r)
			return
		}
		if in.status != http.StatusOK {
			http.Error(w, "down", in.status)
			return
		}
		info := map[string]any{"address": in.address.Hex(), "price_per_pixel": in.price}
		if s := r.URL.Query().Get("sender"); s != "" && in.rc != nil {
			tp, ep, err := in.rc.Params(r.Context(), common.HexToAddress(s))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			info["ticket_params"], info["expiration_params"] = tp, ep
			info["credit"] = in.rc.Balance(common.HexToAddress(s)).String()
		}
		json.NewEncoder(w).Encode(info)
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *utInfo) set(f func(*utInfo)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f(in)
}

func (in *utInfo) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.hits
}

// admitPermit admits and commits a permit of k for a session of its
// stream at b, failing the test if refused, and returns the session's
// payer: what its segments' jobs carry.
func admitPermit(t *testing.T, b *Broadcaster, k sign.Key, p sign.Permit) *permitted {
	t.Helper()
	return admitted(t, b, "Bearer "+utToken(t, k, b.cfg.Domain, p), p.Stream, "session-"+p.Nonce.String())
}

func TestSealerHeaders(t *testing.T) {
	job := utJob(0)

	t.Run("free orchestrator", func(t *testing.T) {
		bKey, oKey := vfKey(t), vfKey(t)
		info := newInfo(t, oKey.Address, "0", nil)
		b := NewBroadcaster(BroadcasterConfig{Key: bKey, Domain: utDomain()})
		hdr, err := b.ForNode(info.srv.URL).Headers(t.Context(), job)
		if err != nil || hdr != nil {
			t.Errorf("headers %v, %v: want no payment", hdr, err)
		}
		if h := hdr.Get(remote.HeaderPayment); h != "" {
			t.Errorf("payment %q to a free orchestrator", h)
		}
	})

	t.Run("price above the permit", func(t *testing.T) {
		n := newPaidNode(t, 3)
		info := newInfo(t, n.oKey.Address, "3", n.rc)
		pub := vfKey(t)
		b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd,
			Accounts: newFakeAccounts().fund(pub.Address, 1e9), Now: func() time.Time { return utNow }})
		job := billedTo(job, admitPermit(t, b, pub, utPermit(n.bKey.Address, vfStream, 1, 2)))
		s := b.ForNode(info.srv.URL)
		_, err := s.Headers(t.Context(), job)
		if err == nil || !strings.Contains(err.Error(), "asks 3 wei per pixel, above the publisher's permit (2)") {
			t.Fatalf("error %v", err)
		}
		if c := n.snd.Credit(n.oKey.Address); c.Sign() != 0 {
			t.Errorf("paid %s wei of tickets before refusing", c)
		}
		// A permit at the price pays.
		job = billedTo(job, admitPermit(t, b, pub, utPermit(n.bKey.Address, vfStream, 2, 3)))
		hdr, err := s.Headers(t.Context(), job)
		if err != nil || hdr.Get(remote.HeaderPayment) == "" {
			t.Fatalf("at the permit's price: %v %v", hdr, err)
		}
		p, err := pm.ParsePayment(hdr.Get(remote.HeaderPayment))
		if err != nil || p.Sender != n.bKey.Address || p.Params.Recipient != n.oKey.Address || len(p.Tickets) == 0 {
			t.Errorf("payment %+v: %v", p, err)
		}
		// It covers the segment's estimate.
		need := new(big.Int).Mul(big.NewInt(3), new(big.Int).SetUint64(EstimatePixels(job.Profiles, 2*time.Second)))
		if c := n.snd.Credit(n.oKey.Address); c.Cmp(need) < 0 {
			t.Errorf("credit %s after paying, the segment needs %s", c, need)
		}
	})

	t.Run("anonymous streams pay any price", func(t *testing.T) {
		n := newPaidNode(t, 3)
		info := newInfo(t, n.oKey.Address, "3", n.rc)
		b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd})
		if hdr, err := b.ForNode(info.srv.URL).Headers(t.Context(), job); err != nil || hdr.Get(remote.HeaderPayment) == "" {
			t.Errorf("%v %v", hdr, err)
		}
	})

	for name, c := range map[string]struct {
		price  string
		params bool
		status int
		want   string
	}{
		"charges, no sender": {"3", true, 200, "charges 3 wei per pixel and this broadcaster pays no one"},
		"no ticket params":   {"3", false, 200, "sent no ticket parameters"},
		"negative price":     {"-1", false, 200, `price_per_pixel "-1"`},
		"no price":           {"", false, 200, `price_per_pixel ""`},
		"info down":          {"0", false, 503, "fetching ticket parameters: 503"},
	} {
		t.Run(name, func(t *testing.T) {
			n := newPaidNode(t, 3)
			rc := n.rc
			if !c.params {
				rc = nil
			}
			info := newInfo(t, n.oKey.Address, c.price, rc)
			info.status = c.status
			b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d})
			_, err := b.ForNode(info.srv.URL).Headers(t.Context(), job)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}

	t.Run("terms are reused", func(t *testing.T) {
		oKey := vfKey(t)
		info := newInfo(t, oKey.Address, "0", nil)
		s := NewBroadcaster(BroadcasterConfig{Key: vfKey(t), Domain: utDomain()}).ForNode(info.srv.URL)
		for range 3 {
			if _, err := s.Headers(t.Context(), job); err != nil {
				t.Fatal(err)
			}
		}
		if h := info.count(); h != 1 {
			t.Errorf("/api/info fetched %d times for 3 segments", h)
		}
	})
}

// TestSealerFailed: a refusal (402, 503) has the terms fetched afresh
// before the next payment, and the credit taken from the orchestrator's
// own count, not zeroed (zeroing it paid a whole segment again to a node
// that may answer 402 forever, issue 11); other failures change nothing.
func TestSealerFailed(t *testing.T) {
	n := newPaidNode(t, 3)
	info := newInfo(t, n.oKey.Address, "3", n.rc)
	b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd})
	s := b.ForNode(info.srv.URL)
	job := utJob(0)
	// The orchestrator keeps the payment: its count is ours.
	if _, err := n.rc.Receive(t.Context(), paymentOf(t, s, job)); err != nil {
		t.Fatal(err)
	}
	credit := n.snd.Credit(n.oKey.Address)
	if credit.Sign() <= 0 {
		t.Fatalf("credit %s after paying", credit)
	}
	fetches := info.count()
	tickets := func() int { return len(paymentOf(t, s, job).Tickets) }
	s.Failed(context.Background(), job, http.StatusBadGateway)
	// Paid up, the next segment carries no ticket, on the cached terms...
	if k := tickets(); k != 0 || info.count() != fetches {
		t.Errorf("%d tickets, %d fetches of the terms, with the credit covering the segment", k, info.count()-fetches)
	}
	// ...and after a 402 or a 503 still none, on fresh terms.
	for i, code := range []int{http.StatusPaymentRequired, http.StatusServiceUnavailable} {
		s.Failed(context.Background(), job, code)
		if k := tickets(); k != 0 || info.count() != fetches+1+i {
			t.Errorf("%d tickets, %d fetches of the terms after a %d: want 0 and %d", k, info.count()-fetches, code, 1+i)
		}
		if c := n.snd.Credit(n.oKey.Address); c.Cmp(credit) != 0 {
			t.Errorf("credit %s after a %d, was %s", c, code, credit)
		}
	}
	// Without a sender a 402 is nothing to act on.
	NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d}).ForNode(info.srv.URL).Failed(context.Background(), job, http.StatusPaymentRequired)
}

// paymentOf is the payment the sealer's Headers send for job.
func paymentOf(t *testing.T, s remote.Sealer, job transcode.Job) pm.Payment {
	t.Helper()
	hdr, err := s.Headers(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pm.ParsePayment(hdr.Get(remote.HeaderPayment))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSealerResyncsADriftedCredit: when the broadcaster counts credit the
// orchestrator never kept (a 503 after payment: it could not store its
// winning tickets), the next fetch after the refusal takes the
// orchestrator's count, so the next payment covers what it will bill.
func TestSealerResyncsADriftedCredit(t *testing.T) {
	n := newPaidNode(t, 3)
	info := newInfo(t, n.oKey.Address, "3", n.rc)
	s := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd}).ForNode(info.srv.URL)
	kept := paymentOf(t, s, utJob(0))
	if _, err := n.rc.Receive(t.Context(), kept); err != nil {
		t.Fatal(err)
	}
	orch := n.rc.Balance(n.bKey.Address)
	// A payment counted here that the orchestrator never kept.
	n.snd.SetCredit(n.oKey.Address, new(big.Int).Mul(orch, big.NewInt(3)))
	s.Failed(t.Context(), utJob(1), http.StatusServiceUnavailable)
	if _, err := s.(*sealer).terms(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if got := n.snd.Credit(n.oKey.Address); got.Cmp(orch) != 0 {
		t.Errorf("credit after the refusal %s, want the orchestrator's %s", got, orch)
	}
}

// utAnswer is a Castnet-Receipt header: rc signed by rcKey, res by resKey.
func utAnswer(t *testing.T, d sign.Domain, rcKey sign.Key, rc sign.TranscodeReceipt, resKey sign.Key, res sign.TranscodeResult) http.Header {
	t.Helper()
	v, err := encodeHeader(Answer{Receipt: mustSeal(t, rcKey, d, rc), Result: mustSeal(t, resKey, d, res)})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{remote.HeaderReceipt: {v}}
}

// utHonest are the records an honest orchestrator and transcoder sign for
// rends made from in.
func utHonest(in remote.SegmentSum, rends []transcode.Rendition, px uint64, orch, tr common.Address) (sign.TranscodeReceipt, sign.TranscodeResult) {
	h := renditionHashes(rends)
	return sign.TranscodeReceipt{Segment: in.Keccak, Renditions: h, Pixels: px, Orchestrator: orch, Transcoder: tr},
		sign.TranscodeResult{Segment: in.Keccak, Renditions: append([]common.Hash(nil), h...), Pixels: px, Transcoder: tr}
}

func TestSealerAnswerRefuses(t *testing.T) {
	d := utDomain()
	bKey, oKey, tKey, stranger := vfKey(t), vfKey(t), vfKey(t), vfKey(t)
	info := newInfo(t, oKey.Address, "0", nil)
	b := NewBroadcaster(BroadcasterConfig{Key: bKey, Domain: d})
	s := b.ForNode(info.srv.URL)
	job := utJob(2)
	src := []byte("source segment 2")
	in := utSum(src)
	rends := sourceRenditions("rendition a", "rendition b")
	if _, err := s.Headers(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Segment(context.Background(), job, in); err != nil {
		t.Fatal(err)
	}
	rc, res := utHonest(in, rends, 0, oKey.Address, tKey.Address)
	other := sign.Keccak([]byte("other source"))

	for name, c := range map[string]struct {
		hdr   http.Header
		rends []transcode.Rendition
		want  string
	}{
		"no receipt": {http.Header{}, rends, "no " + remote.HeaderReceipt},
		"not base64": {http.Header{remote.HeaderReceipt: {"@@"}}, rends, "not base64url"},
		"receipt by another key": {func() http.Header {
			rc, res := utHonest(in, rends, 0, stranger.Address, tKey.Address)
			return utAnswer(t, d, stranger, rc, tKey, res)
		}(), rends, "signed by " + stranger.Address.Hex() + ", the orchestrator is " + oKey.Address.Hex()},
		"receipt naming another orchestrator": {func() http.Header {
			rc := rc
			rc.Orchestrator = stranger.Address
			return utAnswer(t, d, oKey, rc, tKey, res)
		}(), rends, "signers and named parties differ"},
		"for other input bytes": {func() http.Header {
			rc, res := rc, res
			rc.Segment, res.Segment = other, other
			return utAnswer(t, d, oKey, rc, tKey, res)
		}(), rends, "for other input bytes"},
		"result for other input bytes": {func() http.Header {
			res := res
			res.Segment = other
			return utAnswer(t, d, oKey, rc, tKey, res)
		}(), rends, "for other input bytes"},
		"result for other renditions": {func() http.Header {
			res := res
			res.Renditions = []common.Hash{res.Renditions[1], res.Renditions[0]}
			return utAnswer(t, d, oKey, rc, tKey, res)
		}(), rends, "rendition hashes differ from the bytes received"},
		"result claims other pixels": {func() http.Header {
			res := res
			res.Pixels = 1
			return utAnswer(t, d, oKey, rc, tKey, res)
		}(), rends, "pixels"},
		"renditions swapped": {utAnswer(t, d, oKey, rc, tKey, res), []transcode.Rendition{rends[1], rends[0]},
			"rendition hashes differ from the bytes received"},
		"a rendition more": {utAnswer(t, d, oKey, rc, tKey, res), append(append([]transcode.Rendition(nil), rends...), sourceRenditions("c")...),
			"rendition hashes differ"},
		"more pixels": {func() http.Header {
			rc, res := rc, res
			rc.Pixels, res.Pixels = 76800, 76800
			return utAnswer(t, d, oKey, rc, tKey, res)
		}(), rends, "it claims 76800 pixels, the renditions hold 0"},
		"result signed by another than the named transcoder": {utAnswer(t, d, oKey, rc, stranger, res), rends,
			"signers and named parties differ"},
		"receipt names another transcoder": {func() http.Header {
			rc := rc
			rc.Transcoder = stranger.Address
			return utAnswer(t, d, oKey, rc, tKey, res)
		}(), rends, "signers and named parties differ"},
		"bad receipt signature": {func() http.Header {
			a := Answer{Receipt: mustSeal(t, oKey, d, rc), Result: mustSeal(t, tKey, d, res)}
			a.Receipt.Signature = a.Receipt.Signature[:10]
			v, _ := encodeHeader(a)
			return http.Header{remote.HeaderReceipt: {v}}
		}(), rends, "TranscodeReceipt"},
		"result record swapped for a receipt": {func() http.Header {
			a := Answer{Receipt: mustSeal(t, oKey, d, rc), Result: mustSeal(t, oKey, d, rc)}
			v, _ := encodeHeader(a)
			return http.Header{remote.HeaderReceipt: {v}}
		}(), rends, "bad signed record"},
	} {
		t.Run(name, func(t *testing.T) {
			proof, err := s.Answer(context.Background(), job, in, c.hdr, c.rends)
			if !errors.Is(err, ErrReceipt) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrReceipt with %q", err, c.want)
			}
			if proof != "" {
				t.Errorf("a proof with the refusal: %s", proof)
			}
		})
	}

	// The refusals kept the signed record: the honest answer is taken.
	proof, err := s.Answer(context.Background(), job, in, utAnswer(t, d, oKey, rc, tKey, res), rends)
	if err != nil {
		t.Fatalf("honest answer after refusals: %v", err)
	}
	var pr Proof
	if err := json.Unmarshal([]byte(proof), &pr); err != nil {
		t.Fatal(err)
	}
	if seg := mustOpen[sign.Segment](t, d, pr.Segment); seg.Hash != in.Keccak || seg.Seq != 2 || seg.Permit != (common.Hash{}) {
		t.Errorf("proof segment %+v", seg)
	}
	// Once: an answer replayed, or for a segment never signed, is refused.
	for name, c := range map[string]struct {
		job transcode.Job
		in  remote.SegmentSum
	}{
		"replayed":         {job, in},
		"never signed":     {utJob(3), in},
		"other bytes":      {job, utSum([]byte("other source"))},
		"other stream":     {transcode.Job{Stream: "cam2", Seq: 2, Profiles: vfProfiles}, in},
		"never signed too": {utJob(99), utSum([]byte("x"))},
	} {
		rc, res := utHonest(c.in, rends, 0, oKey.Address, tKey.Address)
		_, err := s.Answer(context.Background(), c.job, c.in, utAnswer(t, d, oKey, rc, tKey, res), rends)
		if !errors.Is(err, ErrReceipt) || !strings.Contains(err.Error(), "it answers a segment this broadcaster did not sign") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSealerKeepsBoundedRecords: records of segments never answered are
// dropped, oldest first, past maxSigned.
func TestSealerKeepsBoundedRecords(t *testing.T) {
	d := utDomain()
	oKey, tKey := vfKey(t), vfKey(t)
	info := newInfo(t, oKey.Address, "0", nil)
	s := NewBroadcaster(BroadcasterConfig{Key: vfKey(t), Domain: d}).ForNode(info.srv.URL)
	in := utSum([]byte("bytes"))
	for seq := range uint64(maxSigned + 10) {
		if _, err := s.Segment(context.Background(), utJob(seq), in); err != nil {
			t.Fatal(err)
		}
	}
	// Signing one again keeps one record.
	if _, err := s.Segment(context.Background(), utJob(maxSigned+9), in); err != nil {
		t.Fatal(err)
	}
	if n := len(s.(*sealer).signed); n != maxSigned || len(s.(*sealer).order) != maxSigned {
		t.Errorf("%d records, %d in order, want %d", n, len(s.(*sealer).order), maxSigned)
	}
	rends := sourceRenditions("r")
	rc, res := utHonest(in, rends, 0, oKey.Address, tKey.Address)
	hdr := utAnswer(t, d, oKey, rc, tKey, res)
	if _, err := s.Answer(context.Background(), utJob(5), in, hdr, rends); err == nil {
		t.Error("an answer for a dropped record was taken")
	}
	if _, err := s.Answer(context.Background(), utJob(maxSigned+9), in, hdr, rends); err != nil {
		t.Error(err)
	}
}

// sealedTrip sends one segment through the broadcaster's sealer s, n's
// gate and a transcoder tKey, as remote.Client and remote.Handler do, and
// returns the sealer's proof.
func sealedTrip(t *testing.T, n *paidNode, s remote.Sealer, tKey sign.Key, job transcode.Job, in remote.SegmentSum, rends []transcode.Rendition) (string, error) {
	t.Helper()
	pay, err := s.Headers(t.Context(), job)
	if err != nil {
		return "", err
	}
	seg, err := s.Segment(context.Background(), job, in)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := n.gate.Admit(utRequest(remote.HeaderPayment, pay.Get(remote.HeaderPayment)), job)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.Input(seg, in); err != nil {
		t.Fatal(err)
	}
	result, err := Vouch(tKey, n.d)(in, rends)
	if err != nil {
		t.Fatal(err)
	}
	rends = append([]transcode.Rendition(nil), rends...)
	for i := range rends {
		rends[i].Proof = result
	}
	hdr, err := n.answer(adm, rends)
	if err != nil {
		t.Fatal(err)
	}
	return s.Answer(context.Background(), job, in, hdr, rends)
}

// TestSealerBilling: a funded publisher is billed price × pixels once per
// segment (key stream/nonce/seq); one whose balance runs out has its
// stream ended.
func TestSealerBilling(t *testing.T) {
	_, in, rends, px := realRenditions(t)
	n := newPaidNode(t, 3)
	info := newInfo(t, n.oKey.Address, "3", n.rc)
	tKey, pub := vfKey(t), vfKey(t)
	acct := newFakeAccounts().fund(pub.Address, 1e12)
	type ended struct {
		stream, session string
		err             error
	}
	var mu sync.Mutex
	var ends []ended
	b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd, Accounts: acct,
		Now: func() time.Time { return utNow }, End: func(stream, session string, err error) {
			mu.Lock()
			ends = append(ends, ended{stream, session, err})
			mu.Unlock()
		}})
	perm := admitPermit(t, b, pub, utPermit(n.bKey.Address, vfStream, 77, 3))
	s := b.ForNode(info.srv.URL)
	cost := new(big.Int).Mul(big.NewInt(3), new(big.Int).SetUint64(px))

	for _, seq := range []uint64{0, 0, 1} {
		proof, err := sealedTrip(t, n, s, tKey, billedTo(utJob(seq), perm), in, rends)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		var pr Proof
		if err := json.Unmarshal([]byte(proof), &pr); err != nil {
			t.Fatal(err)
		}
		if seg := mustOpen[sign.Segment](t, n.d, pr.Segment); seg.Permit != perm.digest || seg.Seq != seq {
			t.Errorf("seq %d: the signed segment links permit %s, want %s", seq, seg.Permit.Hex(), perm.digest.Hex())
		}
	}
	bills := acct.bills()
	wantKeys := []string{vfStream + "/77/0", vfStream + "/77/0", vfStream + "/77/1"}
	if len(bills) != len(wantKeys) {
		t.Fatalf("bills %+v", bills)
	}
	for i, bl := range bills {
		if bl.publisher != pub.Address || bl.key != wantKeys[i] || bl.amount.Cmp(cost) != 0 {
			t.Errorf("bill %d: %s %s %s wei, want %s %s %s wei (%d pixels × 3)", i, bl.publisher.Hex(), bl.key, bl.amount,
				pub.Address.Hex(), wantKeys[i], cost, px)
		}
	}
	// Seq 0 twice is charged once.
	want := new(big.Int).Sub(big.NewInt(1e12), new(big.Int).Mul(cost, big.NewInt(2)))
	if got := acct.balance(pub.Address); got.Cmp(want) != 0 {
		t.Errorf("publisher balance %s, want %s", got, want)
	}
	// The sender's credit follows the orchestrator's debits.
	if a, o := n.snd.Credit(n.oKey.Address), n.rc.Balance(n.bKey.Address); a.Cmp(o) != 0 {
		t.Errorf("sender credit %s, the orchestrator's %s", a, o)
	}
	if len(ends) != 0 {
		t.Errorf("streams ended: %+v", ends)
	}

	// Short of funds: the segment is delivered, nothing is charged, and
	// the stream ends.
	poor := vfKey(t)
	acct.fund(poor.Address, 1)
	poorPerm := admitPermit(t, b, poor, utPermit(n.bKey.Address, vfStream, 1, 3))
	if _, err := sealedTrip(t, n, s, tKey, billedTo(utJob(2), poorPerm), in, rends); err != nil {
		t.Fatal(err)
	}
	if got := acct.balance(poor.Address); got.Int64() != 1 {
		t.Errorf("poor publisher's balance %s", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ends) != 1 || ends[0].stream != vfStream || ends[0].session != poorPerm.session || !errors.Is(ends[0].err, ErrInsufficientBalance) ||
		!strings.Contains(ends[0].err.Error(), "publisher "+poor.Address.Hex()+" cannot pay") {
		t.Errorf("ended %+v, want %q ended for %s's balance", ends, vfStream, poor.Address.Hex())
	}
}

// TestSealerAnswerKeepsItsTerms: Answer checks the receipt against, and
// bills at, the orchestrator terms the segment was paid under. When those
// terms are older than paramsTTL by the time the answer comes back (a slow
// transcode), and /api/info fails then, the check must not fall away.
func TestSealerAnswerKeepsItsTerms(t *testing.T) {
	t.Run("orchestrator address", func(t *testing.T) {
		d := utDomain()
		oKey, tKey, stranger := vfKey(t), vfKey(t), vfKey(t)
		info := newInfo(t, oKey.Address, "0", nil)
		s := NewBroadcaster(BroadcasterConfig{Key: vfKey(t), Domain: d}).ForNode(info.srv.URL)
		job, in, rends := utJob(1), utSum([]byte("segment")), sourceRenditions("r")
		if _, err := s.Headers(t.Context(), job); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Segment(context.Background(), job, in); err != nil {
			t.Fatal(err)
		}
		s.(*sealer).mu.Lock()
		s.(*sealer).fetched = time.Now().Add(-2 * paramsTTL)
		s.(*sealer).mu.Unlock()
		info.set(func(i *utInfo) { i.status = http.StatusServiceUnavailable })

		rc, res := utHonest(in, rends, 0, stranger.Address, tKey.Address)
		_, err := s.Answer(context.Background(), job, in, utAnswer(t, d, stranger, rc, tKey, res), rends)
		if !errors.Is(err, ErrReceipt) {
			t.Errorf("a receipt signed by %s, not the orchestrator paid (%s), was taken once /api/info failed: %v",
				stranger.Address.Hex(), oKey.Address.Hex(), err)
		}
	})

	t.Run("billing", func(t *testing.T) {
		_, in, rends, px := realRenditions(t)
		n := newPaidNode(t, 3)
		info := newInfo(t, n.oKey.Address, "3", n.rc)
		pub := vfKey(t)
		acct := newFakeAccounts().fund(pub.Address, 1e12)
		b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd, Accounts: acct,
			Now: func() time.Time { return utNow }})
		perm := admitPermit(t, b, pub, utPermit(n.bKey.Address, vfStream, 5, 3))
		s := b.ForNode(info.srv.URL)
		// The orchestrator's /api/info fails once the segment is paid and
		// on its way, and the terms are old when the answer comes.
		slow := &slowSealer{Sealer: s, after: func() {
			info.set(func(i *utInfo) { i.status = http.StatusBadGateway })
			s.(*sealer).mu.Lock()
			s.(*sealer).fetched = time.Now().Add(-2 * paramsTTL)
			s.(*sealer).mu.Unlock()
		}}
		if _, err := sealedTrip(t, n, slow, vfKey(t), billedTo(utJob(0), perm), in, rends); err != nil {
			t.Fatal(err)
		}
		cost := new(big.Int).Mul(big.NewInt(3), new(big.Int).SetUint64(px))
		if bills := acct.bills(); len(bills) != 1 || bills[0].amount.Cmp(cost) != 0 {
			t.Errorf("bills %+v, want one of %s wei: the segment was paid for and delivered", bills, cost)
		}
		if a, o := n.snd.Credit(n.oKey.Address), n.rc.Balance(n.bKey.Address); a.Cmp(o) != 0 {
			t.Errorf("sender credit %s, the orchestrator's %s: the debit was not recorded", a, o)
		}
	})
}

// slowSealer runs after once Segment was signed: the time a transcode
// takes.
type slowSealer struct {
	remote.Sealer
	after func()
}

func (s *slowSealer) Segment(ctx context.Context, job transcode.Job, in remote.SegmentSum) (string, error) {
	v, err := s.Sealer.Segment(ctx, job, in)
	s.after()
	return v, err
}

// TestSealerPermitExpiry: a permit's expiry holds for the whole session,
// not only at admission. A segment answered once the permit has expired
// is billed to nobody, and the session is ended for it.
func TestSealerPermitExpiry(t *testing.T) {
	_, in, rends, px := realRenditions(t)
	n := newPaidNode(t, 3)
	info := newInfo(t, n.oKey.Address, "3", n.rc)
	tKey, pub := vfKey(t), vfKey(t)
	acct := newFakeAccounts().fund(pub.Address, 1e12)
	var now atomic.Int64
	now.Store(utNow.Unix())
	ends := &endingReasons{}
	b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd, Accounts: acct,
		Now: func() time.Time { return time.Unix(now.Load(), 0) }, End: ends.end})
	p := utPermit(n.bKey.Address, vfStream, 5, 3)
	perm := admitPermit(t, b, pub, p)
	s := b.ForNode(info.srv.URL)

	// A second before expiry the segment is billed.
	now.Store(p.Expires.Int64() - 1)
	if _, err := sealedTrip(t, n, s, tKey, billedTo(utJob(0), perm), in, rends); err != nil {
		t.Fatal(err)
	}
	if bills := acct.bills(); len(bills) != 1 || bills[0].key != vfStream+"/5/0" {
		t.Fatalf("bills %+v, want seq 0 billed", bills)
	}
	if e := ends.ended(); len(e) != 0 {
		t.Fatalf("ended %+v before the permit expired", e)
	}

	// From expiry on it is delivered, not billed, and the session ends.
	now.Store(p.Expires.Int64())
	if _, err := sealedTrip(t, n, s, tKey, billedTo(utJob(1), perm), in, rends); err != nil {
		t.Fatal(err)
	}
	if bills := acct.bills(); len(bills) != 1 {
		t.Errorf("bills %+v: a segment past the permit's expiry was billed", bills)
	}
	cost := new(big.Int).Mul(big.NewInt(3), new(big.Int).SetUint64(px))
	if got, want := acct.balance(pub.Address), new(big.Int).Sub(big.NewInt(1e12), cost); got.Cmp(want) != 0 {
		t.Errorf("publisher balance %s, want %s", got, want)
	}
	expiry := time.Unix(p.Expires.Int64(), 0).UTC().Format(time.RFC3339)
	e := ends.ended()
	if len(e) != 1 || e[0].stream != vfStream || e[0].session != perm.session || !errors.Is(e[0].err, ErrPermitExpired) ||
		!strings.Contains(e[0].err.Error(), "publisher's permit expired at "+expiry) {
		t.Errorf("ended %+v, want %s/%s ended: permit expired at %s", e, vfStream, perm.session, expiry)
	}
}

// endingReasons records the sessions a Broadcaster ends, with why.
type endingReasons struct {
	mu   sync.Mutex
	list []endedSession
}

type endedSession struct {
	stream, session string
	err             error
}

func (e *endingReasons) end(stream, session string, err error) {
	e.mu.Lock()
	e.list = append(e.list, endedSession{stream, session, err})
	e.mu.Unlock()
}

func (e *endingReasons) ended() []endedSession {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]endedSession(nil), e.list...)
}
