package sign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/castnet/castnet/internal/xcheck"
)

// Cross-checks against ethers.js (scripts/ethers/xcheck.mjs), an
// independent EIP-712 implementation: committed vectors it generated, and
// Go's signatures verified by it.

const vectorsFile = "testdata/ethers-vectors.json"

type ethersVector struct {
	Name        string          `json:"name"`
	PrimaryType string          `json:"primaryType"`
	Key         string          `json:"key"`
	Signer      string          `json:"signer"`
	Domain      json.RawMessage `json:"domain"`
	Message     json.RawMessage `json:"message"`
	Digest      string          `json:"digest"`
	Signature   string          `json:"signature"`
}

// parseDomain reads a domain as ethers takes it (chainId a number or a
// decimal string) with Domain's own reader.
func parseDomain(t *testing.T, raw []byte) Domain {
	t.Helper()
	var d Domain
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("domain %s: %v", raw, err)
	}
	return d
}

// recordFor reads a message of the named EIP-712 type with the record's
// own strict JSON reader.
func recordFor(t *testing.T, primaryType string, msg []byte) Record {
	t.Helper()
	var r Record
	for _, s := range sampleRecords() {
		if s.PrimaryType() == primaryType {
			r = newRecord(s)
		}
	}
	if r == nil {
		t.Fatalf("unknown primary type %q", primaryType)
	}
	if err := json.Unmarshal(msg, r); err != nil {
		t.Fatalf("%s message %s: %v", primaryType, msg, err)
	}
	return deref(r)
}

func TestEthersVectors(t *testing.T) {
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Typed []ethersVector `json:"typed"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Typed) < 10 {
		t.Fatalf("only %d vectors", len(file.Typed))
	}
	seen := map[string]bool{}
	for _, v := range file.Typed {
		t.Run(v.Name, func(t *testing.T) {
			seen[v.PrimaryType] = true
			d := parseDomain(t, v.Domain)
			r := recordFor(t, v.PrimaryType, v.Message)
			k, err := ParsePrivateKey(v.Key)
			if err != nil {
				t.Fatal(err)
			}
			if k.Address.Hex() != v.Signer {
				t.Fatalf("key's address %s, ethers says %s", k.Address.Hex(), v.Signer)
			}
			if b, _ := json.Marshal(d); !jsonEqual(b, v.Domain) {
				t.Errorf("domain JSON %s, ethers had %s", b, v.Domain)
			}
			if b, err := json.Marshal(r); err != nil || !jsonEqual(b, v.Message) {
				t.Errorf("message JSON %s (%v), ethers had %s", b, err, v.Message)
			}
			h, err := Digest(d, r)
			if err != nil {
				t.Fatal(err)
			}
			if h.Hex() != v.Digest {
				t.Fatalf("digest %s, ethers %s", h.Hex(), v.Digest)
			}
			sig := common.FromHex(v.Signature)
			got, err := RecordSigner(d, r, sig)
			if err != nil || got != k.Address {
				t.Fatalf("ethers' signature recovers %s (%v), want %s", got, err, k.Address)
			}
			mine, err := SignRecord(k, d, r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mine, sig) {
				t.Fatalf("Go signature %x, ethers %x (both should be RFC 6979)", mine, sig)
			}
		})
	}
	for _, pt := range []string{"Publish", "Segment", "TranscodeResult", "TranscodeReceipt"} {
		if !seen[pt] {
			t.Errorf("no vector for %s", pt)
		}
	}
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// verifyItem is one input of xcheck.mjs verify.
type verifyItem struct {
	Kind           string          `json:"kind"`
	Domain         Domain          `json:"domain"`
	Message        json.RawMessage `json:"message"`
	Signature      string          `json:"signature"`
	ExpectedSigner string          `json:"expectedSigner"`
}

type verifyResult struct {
	Kind      string `json:"kind"`
	OK        bool   `json:"ok"`
	Digest    string `json:"digest"`
	Recovered string `json:"recovered"`
	Error     string `json:"error"`
}

// randomRecords makes n records of each kind with random contents.
func randomRecords(rng *rand.Rand, n int) []Record {
	u256 := func() *big.Int {
		b := make([]byte, 1+rng.IntN(32))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return new(big.Int).SetBytes(b)
	}
	hash := func() common.Hash {
		var h common.Hash
		for i := range h {
			h[i] = byte(rng.Uint32())
		}
		return h
	}
	addr := func() common.Address { return common.BytesToAddress(hash().Bytes()) }
	streams := []string{"", "cam", "直播 🎥", "a/b c", "\"quoted\" \\ \u2028 <&>"}
	stream := func() string { return streams[rng.IntN(len(streams))] + fmt.Sprint(rng.IntN(1000)) }
	hashes := func() []common.Hash {
		hs := make([]common.Hash, rng.IntN(5))
		for i := range hs {
			hs[i] = hash()
		}
		return hs
	}
	var out []Record
	for range n {
		out = append(out,
			Permit{Stream: stream(), Broadcaster: addr(), Expires: u256(), MaxPricePerPixel: u256(), Nonce: u256()},
			Segment{Stream: stream(), Seq: rng.Uint64(), DurationMs: rng.Uint64() >> rng.IntN(64), Hash: hash(), Profiles: hash(), Permit: hash()},
			TranscodeResult{Segment: hash(), Renditions: hashes(), Pixels: rng.Uint64(), Transcoder: addr()},
			TranscodeReceipt{Segment: hash(), Renditions: hashes(), Pixels: rng.Uint64(), Orchestrator: addr(), Transcoder: addr()},
		)
	}
	return out
}

// item makes a verify item for r signed with sig, expected from signer.
func item(t *testing.T, d Domain, r Record, sig []byte, signer common.Address) verifyItem {
	t.Helper()
	msg, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return verifyItem{Kind: r.PrimaryType(), Domain: d, Message: msg, Signature: "0x" + common.Bytes2Hex(sig), ExpectedSigner: signer.Hex()}
}

func TestGoSignaturesVerifyInEthers(t *testing.T) {
	root := xcheck.Root(t)
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.Uint64()
	t.Logf("seed %d, key %s", seed, k.Address)
	rng := rand.New(rand.NewPCG(seed, 1))
	domains := []Domain{DefaultDomain(), DefaultDomain().WithChainID(big.NewInt(42161)), DefaultDomain().WithChainID(new(big.Int).Lsh(big.NewInt(1), 70))}

	var good, bad []verifyItem
	var digests []common.Hash
	for i, r := range randomRecords(rng, 4) {
		d := domains[i%len(domains)]
		sig, err := SignRecord(k, d, r)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := Digest(d, r)
		good = append(good, item(t, d, r, sig, k.Address))
		digests = append(digests, h)
		for _, c := range tampered(r) {
			bad = append(bad, item(t, d, c, sig, k.Address))
		}
		other := domains[(i+1)%len(domains)]
		bad = append(bad, item(t, other, r, sig, k.Address))
		twin := bytes.Clone(sig)
		new(big.Int).Sub(crypto.S256().Params().N, new(big.Int).SetBytes(sig[32:64])).FillBytes(twin[32:64])
		twin[64] = 55 - sig[64]
		bad = append(bad, item(t, d, r, twin, k.Address))
	}

	res, code := xcheck.Verify[verifyItem, verifyResult](t, root, good)
	for i, r := range res {
		if !r.OK {
			t.Errorf("ethers refused Go's %s %s: %s", good[i].Kind, good[i].Message, r.Error)
		}
		if r.Digest != digests[i].Hex() {
			t.Errorf("ethers digest %s, Go %s for %s", r.Digest, digests[i].Hex(), good[i].Message)
		}
	}
	if code != 0 {
		t.Errorf("xcheck verify exited %d on good items", code)
	}

	res, code = xcheck.Verify[verifyItem, verifyResult](t, root, bad)
	for i, r := range res {
		if r.OK {
			t.Errorf("ethers accepted a tampered %s %s", bad[i].Kind, bad[i].Message)
		}
	}
	if code != 1 {
		t.Errorf("xcheck verify exited %d on tampered items, want 1", code)
	}
}

// TestEthersVectorsUpToDate: the committed vectors are what the script
// generates now.
func TestEthersVectorsUpToDate(t *testing.T) {
	root := xcheck.Root(t)
	out, code := xcheck.Run(t, root, nil, "gen", "typed")
	if code != 0 {
		t.Fatalf("gen exited %d", code)
	}
	committed, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(out, committed) {
		t.Fatalf("%s is stale: run scripts/ethers/regen.sh", vectorsFile)
	}
}
