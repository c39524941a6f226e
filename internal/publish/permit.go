package publish

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
)

// PermitRequest is what GET /api/eip712 answers (the fields a publisher
// needs to sign a Publish permit).
type PermitRequest struct {
	Domain struct {
		Name    string          `json:"name"`
		Version string          `json:"version"`
		ChainID json.RawMessage `json:"chainId"`
	} `json:"domain"`
	PrimaryType      string `json:"primaryType"`
	Broadcaster      string `json:"broadcaster"`
	RequirePermit    bool   `json:"requirePermit"`
	MaxPricePerPixel string `json:"maxPricePerPixel"`
}

// SignPermit asks the node behind whipURL (…/whip/{stream}) what to sign,
// signs a Publish permit for the stream with k, valid for ttl, allowing
// maxPrice wei per pixel (nil: the node's suggestion), and returns the
// bearer token (eip712.…) for the WHIP request. A nil client is
// http.DefaultClient.
func SignPermit(ctx context.Context, client *http.Client, whipURL string, k sign.Key, ttl time.Duration, maxPrice *big.Int) (string, sign.Permit, error) {
	u, err := url.Parse(whipURL)
	if err != nil {
		return "", sign.Permit{}, err
	}
	stream := path.Base(u.Path)
	api := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/api/eip712"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.String(), nil)
	if err != nil {
		return "", sign.Permit{}, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", sign.Permit{}, fmt.Errorf("asking the node what to sign: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", sign.Permit{}, fmt.Errorf("GET %s: %s", api, resp.Status)
	}
	var pr PermitRequest
	if err := json.Unmarshal(body, &pr); err != nil {
		return "", sign.Permit{}, fmt.Errorf("GET %s: %w", api, err)
	}
	if pr.PrimaryType != "Publish" || !common.IsHexAddress(pr.Broadcaster) {
		return "", sign.Permit{}, fmt.Errorf("GET %s: not a castnet Publish request", api)
	}
	d := sign.Domain{Name: pr.Domain.Name, Version: pr.Domain.Version}
	if len(pr.Domain.ChainID) > 0 && string(pr.Domain.ChainID) != "null" {
		var id json.Number
		if err := json.Unmarshal(pr.Domain.ChainID, &id); err != nil {
			return "", sign.Permit{}, fmt.Errorf("domain chainId: %w", err)
		}
		c, ok := new(big.Int).SetString(id.String(), 10)
		if !ok {
			return "", sign.Permit{}, fmt.Errorf("domain chainId %q", id)
		}
		d.ChainID = c
	}
	if maxPrice == nil {
		p, ok := new(big.Int).SetString(pr.MaxPricePerPixel, 10)
		if !ok {
			p = new(big.Int)
		}
		maxPrice = p
	}
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return "", sign.Permit{}, err
	}
	p := sign.Permit{Stream: stream, Broadcaster: common.HexToAddress(pr.Broadcaster),
		Expires: big.NewInt(time.Now().Add(ttl).Unix()), MaxPricePerPixel: maxPrice, Nonce: nonce}
	sig, err := sign.SignRecord(k, d, p)
	if err != nil {
		return "", sign.Permit{}, err
	}
	return sign.EncodeToken(p, sig), p, nil
}
