package orchestrator

import (
	"context"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/transcode/remote"
)

type echo struct{}

func (echo) Transcode(ctx context.Context, job transcode.Job) ([]transcode.Rendition, error) {
	in, err := io.ReadAll(job.Input)
	if err != nil {
		return nil, err
	}
	var out []transcode.Rendition
	for _, p := range job.Profiles {
		out = append(out, transcode.Rendition{Profile: p, Width: job.SourceWidth, Height: job.SourceHeight, Data: in})
	}
	return out, nil
}

func TestInfoAndTranscode(t *testing.T) {
	o, err := New(Config{Transcoder: echo{}, Capacity: 3, PricePerPixel: 9007199254740993})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	var info Info
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if info.Protocol != ProtocolVersion || info.Capacity != 3 || info.Free != 3 ||
		info.PricePerPixel != "9007199254740993" { // above 2^53: a JSON number would lose it
		t.Errorf("info %+v", info)
	}
	c := &remote.Client{URL: srv.URL, HTTP: srv.Client()}
	rends, err := c.Transcode(context.Background(), transcode.Job{Seq: 1, Input: strings.NewReader("ts"),
		Profiles: []transcode.Profile{transcode.SourceProfile()}, SourceWidth: 640, SourceHeight: 360})
	if err != nil || len(rends) != 1 || string(rends[0].Data) != "ts" {
		t.Fatalf("%v %+v", err, rends)
	}
}

func TestNegativePriceRefused(t *testing.T) {
	if _, err := New(Config{Transcoder: echo{}, PricePerPixel: -1}); err == nil {
		t.Fatal("negative price accepted")
	}
}

// TestInfoShowsTheSendersCredit: with ?sender=, a charging orchestrator's
// info carries that sender's ticket parameters and its credit here, which
// a broadcaster resyncs to after a refusal.
func TestInfoShowsTheSendersCredit(t *testing.T) {
	sender := common.HexToAddress("0x00000000000000000000000000000000000000b1")
	o, err := New(Config{Transcoder: echo{}, PricePerPixel: 3,
		Params: func(context.Context, common.Address) (pm.TicketParams, pm.ExpirationParams, error) {
			return pm.TicketParams{}, pm.ExpirationParams{}, nil
		},
		Credit: func(a common.Address) *big.Int {
			if a == sender {
				return big.NewInt(4200)
			}
			return new(big.Int)
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(o.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/info?sender=" + sender.Hex())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info Info
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.Credit != "4200" || info.TicketParams == nil {
		t.Errorf("info for the sender: credit %q, ticket params %v", info.Credit, info.TicketParams)
	}
}
