package trust

import (
	"bytes"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// Lying orchestrators (issue 11, attack 3): an orchestrator signs for
// whatever bytes it sends, and its pixel count is what those bytes hold. The
// broadcaster bills from what the job asked for, so an answer that holds
// more is refused, and nothing is billed for it.

// renumberCC rewrites the continuity counters of ts so that each PID's
// count runs on without a jump: segments glued together then demux as one.
func renumberCC(ts []byte) []byte {
	out := bytes.Clone(ts)
	cc := map[int]byte{}
	for off := 0; off+mpegts.PacketSize <= len(out); off += mpegts.PacketSize {
		p := out[off : off+mpegts.PacketSize]
		pid := int(p[1]&0x1F)<<8 | int(p[2])
		if p[3]&0x10 == 0 {
			continue // no payload: the counter does not advance
		}
		next, seen := cc[pid]
		if !seen {
			next = p[3] & 0x0F
		}
		p[3] = p[3]&0xF0 | next
		cc[pid] = (next + 1) & 0x0F
	}
	return out
}

// repeated returns rends with each transcoded rendition's bytes sent n
// times over, continuity counters renumbered.
func repeated(rends []transcode.Rendition, n int) []transcode.Rendition {
	out := append([]transcode.Rendition(nil), rends...)
	for i, r := range out {
		if !r.Profile.IsSource() {
			out[i].Data = renumberCC(bytes.Repeat(r.Data, n))
		}
	}
	return out
}

// fakeVideo muxes n frames of fake H.264 at fps (timestamps from 1 s), an
// SPS of w × h on the first and, when switchAt > 0, one of sw × sh there.
func fakeVideo(t *testing.T, n, fps, w, h, switchAt, sw, sh int) []byte {
	t.Helper()
	var buf bytes.Buffer
	m := mpegts.NewMuxer(&buf, mpegts.MuxerConfig{Video: true})
	if err := m.WriteTables(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		pts := time.Second + time.Duration(i)*time.Second/time.Duration(fps)
		nalus := [][]byte{{0x41, byte(i), 0x80}}
		switch {
		case i == 0:
			nalus = [][]byte{mpegtstest.SPS(w, h), {0x65, 0x88, 0x80}}
		case switchAt > 0 && i == switchAt:
			nalus = [][]byte{mpegtstest.SPS(sw, sh), {0x65, 0x88, 0x80}}
		}
		if err := m.WriteVideoNALUs(pts, pts, nalus[0][0] != 0x41, nalus); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// forged returns rends with rendition name's bytes replaced by data.
func forged(rends []transcode.Rendition, name string, data []byte) []transcode.Rendition {
	out := append([]transcode.Rendition(nil), rends...)
	for i := range out {
		if out[i].Profile.Name == name {
			out[i].Data = data
		}
	}
	return out
}

// lie is an answer that inflates a segment's pixels, and how the billing
// rules tell.
type lie struct {
	rends []transcode.Rendition
	why   string
}

// lies are the ways an answer inflates rends, a real segment of utJob
// (320x240, 1 s: 180p at 25 fps fits to 240x180, "odd" at 15 fps to
// 250x188): renditions sent 50 times over or twice, continuity counters
// renumbered; an SPS far larger than the fitted size, at the start or
// mid-segment; the source's size; more frames than the profile's rate
// allows.
func lies(t *testing.T, rends []transcode.Rendition) map[string]lie {
	t.Helper()
	return map[string]lie{
		"renditions repeated 50 times":          {repeated(rends, 50), "49 of its 1250 frames repeat or go back in time"},
		"renditions repeated twice":             {repeated(rends, 2), "1 of its 50 frames repeat or go back in time"},
		"a forged SPS of 16896x16896":           {forged(rends, "180p", fakeVideo(t, 25, 25, 16896, 16896, 0, 0, 0)), "its SPS says 16896x16896, the job asked for 240x180"},
		"an SPS that switches mid-segment":      {forged(rends, "180p", fakeVideo(t, 25, 25, 240, 180, 12, 16896, 16896)), "an SPS switches it to 16896x16896 mid-segment"},
		"the source's size, not the fitted one": {forged(rends, "180p", fakeVideo(t, 25, 25, 320, 240, 0, 0, 0)), "its SPS says 320x240, the job asked for 240x180"},
		"four times the profile's frame rate":   {forged(rends, "180p", fakeVideo(t, 100, 100, 240, 180, 0, 0, 0)), "100 frames, above the 33 that 25 fps for 1s allows"},
	}
}

// TestGateVouchesOnlyForWhatItBills (issue 11): an orchestrator's gate
// asked to vouch for inflated renditions, signed by a transcoder node (an
// honest count of the lie's pixels) or made by its own transcoder, refuses
// to sign a receipt (502, naming the billing rule) and charges the
// broadcaster nothing: it holds them to the rules the broadcaster will
// (CheckSegment). The honest answer is charged the pixels they count.
func TestGateVouchesOnlyForWhatItBills(t *testing.T) {
	_, in, rends, px := realRenditions(t)
	job, tKey := utJob(0), vfKey(t)
	for name, lie := range lies(t, rends) {
		for _, by := range []string{"a transcoder node", "its own transcoder"} {
			t.Run(name+" by "+by, func(t *testing.T) {
				n := newPaidNode(t, 3)
				adm, answer := n.admitInput(t, job, in), lie.rends
				if by == "a transcoder node" {
					answer = withResult(t, tKey, n.d, in, lie.rends)
				}
				before := n.rc.Balance(n.bKey.Address)
				hdr, err := adm.Answer(answer)
				wantStatus(t, err, http.StatusBadGateway, ruleBilling, lie.why)
				if hdr != nil {
					t.Errorf("a receipt with the refusal: %v", hdr)
				}
				if after := n.rc.Balance(n.bKey.Address); after.Cmp(before) != 0 {
					t.Errorf("charged for a refused answer: credit %s, was %s", after, before)
				}
				if c := n.gate.Payments().(map[string]any)["charged"].(Charged); c.Segments != 0 || c.Pixels != 0 || c.Wei.Sign() != 0 {
					t.Errorf("charged %+v for a refused answer", c)
				}
			})
		}
	}
	t.Run("the honest answer", func(t *testing.T) {
		n := newPaidNode(t, 3)
		adm := n.admitInput(t, job, in)
		before := n.rc.Balance(n.bKey.Address)
		if _, err := adm.Answer(withResult(t, tKey, n.d, in, rends)); err != nil {
			t.Fatal(err)
		}
		cost := new(big.Int).Mul(n.price, new(big.Int).SetUint64(px))
		if got := new(big.Int).Sub(before, n.rc.Balance(n.bKey.Address)); got.Cmp(cost) != 0 {
			t.Errorf("charged %s wei, want %s (%d pixels)", got, cost, px)
		}
	})
}

// withResult is rends with tKey's signed result over them attached, as a
// transcoder node returns them.
func withResult(t *testing.T, tKey sign.Key, d sign.Domain, in remote.SegmentSum, rends []transcode.Rendition) []transcode.Rendition {
	t.Helper()
	result, err := Vouch(tKey, d)(in, rends)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]transcode.Rendition(nil), rends...)
	for i := range out {
		out[i].Proof = result
	}
	return out
}

// admitInput admits job at n's gate, paid, with its signed record for in.
func (n *paidNode) admitInput(t *testing.T, job transcode.Job, in remote.SegmentSum) remote.Admission {
	t.Helper()
	adm := n.admitPaid(t, job)
	if err := adm.Input(utSegmentHeader(t, n.bKey, n.d, utSegment(job, in)), in); err != nil {
		t.Fatal(err)
	}
	return adm
}

// lyingAnswer answers as a lying orchestrator does (as the gate did
// before issue 11): it signs a receipt for whatever renditions it sends,
// with the pixels they hold, over the transcoder's result, and charges
// them.
func (n *paidNode) lyingAnswer(adm remote.Admission, rends []transcode.Rendition) (http.Header, error) {
	a := adm.(*admission)
	px, err := Pixels(rends)
	if err != nil {
		return nil, err
	}
	var result Sealed
	if err := decodeHeader(remote.HeaderResult, rends[0].Proof, &result); err != nil {
		return nil, err
	}
	res, _, err := open[sign.TranscodeResult](n.d, result)
	if err != nil {
		return nil, err
	}
	receipt, err := seal(n.oKey, n.d, sign.TranscodeReceipt{Segment: a.in.sum.Keccak, Renditions: renditionHashes(rends),
		Pixels: px, Orchestrator: n.oKey.Address, Transcoder: res.Transcoder})
	if err != nil {
		return nil, err
	}
	a.hold.Settle(new(big.Int).Mul(n.price, new(big.Int).SetUint64(px)))
	v, err := encodeHeader(Answer{Receipt: receipt, Result: result})
	return http.Header{remote.HeaderReceipt: {v}}, err
}

// TestSealerBillsWhatWasAsked: answers that hold more pixels than the job
// asked for (lies) are refused as ErrReceipt, with no bill and no debit of
// the sender's credit, though a lying orchestrator signed for them and
// counted their pixels right. The honest answer passes.
func TestSealerBillsWhatWasAsked(t *testing.T) {
	_, in, rends, px := realRenditions(t)
	job := utJob(3)
	for name, lie := range lies(t, rends) {
		t.Run(name, func(t *testing.T) {
			n := newPaidNode(t, 3)
			n.liar = true
			info := newInfo(t, n.oKey.Address, "3", n.rc)
			pub := vfKey(t)
			acct := newFakeAccounts().fund(pub.Address, 1e15)
			b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd, Accounts: acct,
				Now: func() time.Time { return utNow }})
			payer := admitPermit(t, b, pub, utPermit(n.bKey.Address, vfStream, 5, 3))
			lied, err := Pixels(lie.rends)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("honest %d pixels, the lie %d (%.1fx)", px, lied, float64(lied)/float64(px))
			_, err = sealedTrip(t, n, b.ForNode(info.srv.URL), vfKey(t), billedTo(job, payer), in, lie.rends)
			if !errors.Is(err, ErrReceipt) || !strings.Contains(err.Error(), lie.why) {
				t.Fatalf("err %v, want ErrReceipt: %s", err, lie.why)
			}
			if bills := acct.bills(); len(bills) != 0 {
				t.Errorf("billed for the lie: %+v", bills)
			}
			// The liar debited itself for its lie; the sender did
			// not follow it: its credit is what it paid.
			if c, o := n.snd.Credit(n.oKey.Address), n.rc.Balance(n.bKey.Address); c.Cmp(o) <= 0 {
				t.Errorf("sender credit %s, not above the liar's view %s: the lie was debited", c, o)
			}
		})
	}
	t.Run("the honest answer", func(t *testing.T) {
		n := newPaidNode(t, 3)
		info := newInfo(t, n.oKey.Address, "3", n.rc)
		b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd})
		if _, err := sealedTrip(t, n, b.ForNode(info.srv.URL), vfKey(t), job, in, rends); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSealerRetryAfterALieBillsTheHonestAmount: the segment a liar answered
// goes to an honest orchestrator next, under the same bill key; the
// publisher pays the honest pixels once.
func TestSealerRetryAfterALieBillsTheHonestAmount(t *testing.T) {
	_, in, rends, px := realRenditions(t)
	liar := newPaidNode(t, 3)
	honest := anotherOrchestrator(t, liar)
	liar.liar = true
	pub := vfKey(t)
	acct := newFakeAccounts().fund(pub.Address, 1e15)
	b := NewBroadcaster(BroadcasterConfig{Key: liar.bKey, Domain: liar.d, Sender: liar.snd, Accounts: acct,
		Now: func() time.Time { return utNow }})
	job := billedTo(utJob(4), admitPermit(t, b, pub, utPermit(liar.bKey.Address, vfStream, 9, 3)))
	_, err := sealedTrip(t, liar, b.ForNode(newInfo(t, liar.oKey.Address, "3", liar.rc).srv.URL), vfKey(t), job, in, repeated(rends, 50))
	if !errors.Is(err, ErrReceipt) {
		t.Fatalf("the liar's answer: %v, want ErrReceipt", err)
	}
	if _, err := sealedTrip(t, honest, b.ForNode(newInfo(t, honest.oKey.Address, "3", honest.rc).srv.URL), vfKey(t), job, in, rends); err != nil {
		t.Fatal(err)
	}
	want := new(big.Int).Mul(big.NewInt(3), new(big.Int).SetUint64(px))
	bills := acct.bills()
	if len(bills) != 1 || bills[0].amount.Cmp(want) != 0 || !strings.HasSuffix(bills[0].key, "/9/4") {
		t.Fatalf("bills %+v, want one of %s wei (%d pixels × 3)", bills, want, px)
	}
}

// anotherOrchestrator is a second orchestrator on n's ledger, paid by the
// same broadcaster.
func anotherOrchestrator(t *testing.T, n *paidNode) *paidNode {
	t.Helper()
	o := *n
	o.oKey = vfKey(t)
	rc, err := pm.NewRecipient(pm.RecipientConfig{Key: o.oKey, Broker: n.led, PricePerPixel: n.price})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	o.rc = rc
	o.gate = NewOrchestrator(OrchestratorConfig{Key: o.oKey, Domain: o.d, Recipient: rc})
	return &o
}
