package trust

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/httpx"
	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/transcode/remote"
)

// brokenStore is a winners store that cannot commit (a full disk).
type brokenStore struct{}

func (brokenStore) Add(context.Context, []pm.Winner) error       { return errors.New("disk full") }
func (brokenStore) Done(context.Context, common.Hash) error      { return nil }
func (brokenStore) Pending(context.Context) ([]pm.Winner, error) { return nil, nil }

// TestGateStoreFailureIsUnavailable: a payment whose winning tickets the
// orchestrator cannot store (pm.ErrNotPersisted) is its own failure, not
// the payer's: 503 with Retry-After, which a broadcaster takes as busy
// (the segment goes elsewhere, the node is not faulted), not 402.
func TestGateStoreFailureIsUnavailable(t *testing.T) {
	n := newPaidNode(t, 3)
	// Every ticket wins (EV = face value), so each payment has a winner
	// to store.
	rc, err := pm.NewRecipient(pm.RecipientConfig{Key: n.oKey, Broker: n.led, Store: brokenStore{},
		PricePerPixel: n.price, TicketEV: big.NewInt(1e12), FaceValue: big.NewInt(1e12)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	n.rc, n.gate = rc, NewOrchestrator(OrchestratorConfig{Key: n.oKey, Domain: n.d, Recipient: rc})
	job := utJob(1)
	_, err = n.gate.Admit(utRequest(remote.HeaderPayment, n.payment(t, job)), job)
	wantStatus(t, err, http.StatusServiceUnavailable, "winning tickets could not be stored", "disk full")
	if !errors.Is(err, pm.ErrNotPersisted) || errors.Is(err, ErrUnpaid) {
		t.Errorf("err %v: want ErrNotPersisted, not ErrUnpaid", err)
	}
	if d, ok := httpx.RetryAfter(err); !ok || d <= 0 {
		t.Errorf("Retry-After %v (%t), want one", d, ok)
	}
}
