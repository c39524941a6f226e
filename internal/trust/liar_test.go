package trust

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/mpegts"
	"github.com/castnet/castnet/internal/mpegts/mpegtstest"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/transcode"
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

// TestSealerBillsWhatWasAsked: answers that hold more pixels than the job
// asked for (renditions sent 50 times over with continuous counters, an SPS
// far larger than the fitted size at the start or mid-segment, more frames
// than the profile's rate allows) are refused as ErrReceipt, with no bill
// and no debit of the sender's credit, though the orchestrator signed for
// them and counted their pixels right. The honest answer passes.
func TestSealerBillsWhatWasAsked(t *testing.T) {
	_, in, rends, px := realRenditions(t)
	job := utJob(3) // 320x240, 1 s: 180p at 25 fps is 320x180, "odd" at 15 fps 250x188
	lies := map[string][]transcode.Rendition{
		"renditions repeated 50 times":          repeated(rends, 50),
		"renditions repeated twice":             repeated(rends, 2),
		"a forged SPS of 16896x16896":           forged(rends, "180p", fakeVideo(t, 25, 25, 16896, 16896, 0, 0, 0)),
		"an SPS that switches mid-segment":      forged(rends, "180p", fakeVideo(t, 25, 25, 320, 180, 12, 16896, 16896)),
		"the source's size, not the fitted one": forged(rends, "180p", fakeVideo(t, 25, 25, 320, 240, 0, 0, 0)),
		"four times the profile's frame rate":   forged(rends, "180p", fakeVideo(t, 100, 100, 320, 180, 0, 0, 0)),
	}
	for name, lie := range lies {
		t.Run(name, func(t *testing.T) {
			n := newPaidNode(t, 3)
			info := newInfo(t, n.oKey.Address, "3", n.rc)
			pub := vfKey(t)
			acct := newFakeAccounts().fund(pub.Address, 1e15)
			b := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd, Accounts: acct,
				Now: func() time.Time { return utNow }})
			payer := admitPermit(t, b, pub, utPermit(n.bKey.Address, vfStream, 5, 3))
			lied, err := Pixels(lie)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("honest %d pixels, the lie %d (%.1fx)", px, lied, float64(lied)/float64(px))
			_, err = sealedTrip(t, n, b.ForNode(info.srv.URL), vfKey(t), billedTo(job, payer), in, lie)
			if !errors.Is(err, ErrReceipt) {
				t.Fatalf("err %v, want ErrReceipt", err)
			}
			if bills := acct.bills(); len(bills) != 0 {
				t.Errorf("billed for the lie: %+v", bills)
			}
			// The orchestrator debited itself for its lie; the sender did
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
