package trust

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// TestCreditAdmitsOnlyTheSegmentsItCovers is issue 11's attack 4 on a paid
// orchestrator: a credit that covers a few segments admitted every segment
// sent before the first was answered, so one payment could fill every
// slot with slow uploads. Now each admitted segment holds its estimate of
// the credit until it is answered or ends.
func TestCreditAdmitsOnlyTheSegmentsItCovers(t *testing.T) {
	n := newPaidNode(t, 1)
	first := n.admitPaid(t, utJob(1))
	need := new(big.Int).Mul(n.price, new(big.Int).SetUint64(EstimatePixels(utJob(1).Profiles, 2*time.Second)))
	covers := new(big.Int).Quo(n.rc.Balance(n.bKey.Address), need).Int64()
	admitted := int64(1)
	for seq := uint64(2); seq < 1000; seq++ {
		// The sender sees a credit that covers a segment: it pays nothing.
		adm, err := n.gate.Admit(utRequest(remote.HeaderPayment, n.payment(t, utJob(seq))), utJob(seq))
		if errors.Is(err, httpx.ErrPaymentRequired) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		defer adm.Close()
		admitted++
	}
	if admitted != covers {
		t.Fatalf("%d segments admitted at once on a credit that covers %d", admitted, covers)
	}
	first.Close()
	first.Close()
	again := n.admitPaid(t, utJob(1000))
	again.Close()
	t.Logf("a credit covering %d segments admitted %d at once", covers, admitted)
}

// TestSegmentsInFlightEachPay is the broadcaster's side: segments sent
// before the first is answered each pay for themselves, so the
// orchestrator, which holds credit for each, admits every one. A segment
// refused or answered gives its hold back, and the next pays only what it
// lacks.
func TestSegmentsInFlightEachPay(t *testing.T) {
	n := newPaidNode(t, 1)
	info := newInfo(t, n.oKey.Address, "1", n.rc)
	s := NewBroadcaster(BroadcasterConfig{Key: n.bKey, Domain: n.d, Sender: n.snd}).ForNode(info.srv.URL)
	send := func(seq uint64) (remote.Admission, int) {
		t.Helper()
		hdr, err := s.Headers(t.Context(), utJob(seq))
		if err != nil {
			t.Fatal(err)
		}
		p, err := pm.ParsePayment(hdr.Get(remote.HeaderPayment))
		if err != nil {
			t.Fatal(err)
		}
		adm, err := n.gate.Admit(utRequest(remote.HeaderPayment, hdr.Get(remote.HeaderPayment)), utJob(seq))
		if err != nil {
			t.Fatalf("segment %d, sent with %d others in flight: %v", seq, seq-1, err)
		}
		return adm, len(p.Tickets)
	}
	var adms []remote.Admission
	for seq := uint64(1); seq <= 30; seq++ {
		adm, _ := send(seq)
		adms = append(adms, adm)
	}
	s.Failed(context.Background(), utJob(1), http.StatusServiceUnavailable)
	adms[0].Close()
	if _, k := send(31); k != 0 {
		t.Errorf("segment 31 paid %d tickets, though segment 1 gave back its hold", k)
	}
	for _, a := range adms[1:] {
		a.Close()
	}
}
