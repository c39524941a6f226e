package pm_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/pm"
	"github.com/castnet/castnet/internal/sign"

	"github.com/castnet/castnet/internal/xcheck"
)

// Cross-checks of tickets against ethers.js (scripts/ethers/xcheck.mjs):
// committed vectors it generated, and Go's tickets verified by it.

const ethersTicketsFile = "testdata/ethers-tickets.json"

// ethersTicketJSON is a ticket as xcheck.mjs writes and reads it: numbers
// as decimal strings.
type ethersTicketJSON struct {
	Recipient              string `json:"recipient"`
	Sender                 string `json:"sender"`
	FaceValue              string `json:"faceValue"`
	WinProb                string `json:"winProb"`
	SenderNonce            string `json:"senderNonce"`
	RecipientRandHash      string `json:"recipientRandHash"`
	CreationRound          string `json:"creationRound"`
	CreationRoundBlockHash string `json:"creationRoundBlockHash"`
}

func ethersBig(t *testing.T, what, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("%s: %q is not a decimal integer", what, s)
	}
	return v
}

func (j ethersTicketJSON) ticket(t *testing.T) pm.Ticket {
	t.Helper()
	nonce, err := strconv.ParseUint(j.SenderNonce, 10, 32)
	if err != nil {
		t.Fatalf("senderNonce: %v", err)
	}
	round, err := strconv.ParseInt(j.CreationRound, 10, 64)
	if err != nil {
		t.Fatalf("creationRound: %v", err)
	}
	return pm.Ticket{
		Recipient:              common.HexToAddress(j.Recipient),
		Sender:                 common.HexToAddress(j.Sender),
		FaceValue:              ethersBig(t, "faceValue", j.FaceValue),
		WinProb:                ethersBig(t, "winProb", j.WinProb),
		SenderNonce:            uint32(nonce),
		RecipientRandHash:      common.HexToHash(j.RecipientRandHash),
		CreationRound:          round,
		CreationRoundBlockHash: common.HexToHash(j.CreationRoundBlockHash),
	}
}

func ethersTicketOf(tk pm.Ticket) ethersTicketJSON {
	return ethersTicketJSON{
		Recipient:              tk.Recipient.Hex(),
		Sender:                 tk.Sender.Hex(),
		FaceValue:              tk.FaceValue.String(),
		WinProb:                tk.WinProb.String(),
		SenderNonce:            fmt.Sprint(tk.SenderNonce),
		RecipientRandHash:      tk.RecipientRandHash.Hex(),
		CreationRound:          fmt.Sprint(tk.CreationRound),
		CreationRoundBlockHash: tk.CreationRoundBlockHash.Hex(),
	}
}

func TestEthersTickets(t *testing.T) {
	data, err := os.ReadFile(ethersTicketsFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tickets []struct {
			Name          string           `json:"name"`
			Key           string           `json:"key"`
			Signer        string           `json:"signer"`
			Ticket        ethersTicketJSON `json:"ticket"`
			RecipientRand string           `json:"recipientRand"`
			AuxData       string           `json:"auxData"`
			Hash          string           `json:"hash"`
			Signature     string           `json:"signature"`
			Wins          bool             `json:"wins"`
		} `json:"tickets"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	outcomes := map[bool]int{}
	for _, v := range file.Tickets {
		t.Run(v.Name, func(t *testing.T) {
			tk := v.Ticket.ticket(t)
			if err := tk.Check(); err != nil {
				t.Fatal(err)
			}
			k, err := sign.ParsePrivateKey(v.Key)
			if err != nil {
				t.Fatal(err)
			}
			if k.Address.Hex() != v.Signer || tk.Sender != k.Address {
				t.Fatalf("key's address %s, ethers signer %s, sender %s", k.Address.Hex(), v.Signer, tk.Sender.Hex())
			}
			recipientRand := ethersBig(t, "recipientRand", v.RecipientRand)
			if got := pm.RandHash(recipientRand); got != tk.RecipientRandHash {
				t.Errorf("RandHash %s, ethers %s", got, tk.RecipientRandHash)
			}
			if got := "0x" + common.Bytes2Hex(tk.AuxData()); got != v.AuxData {
				t.Errorf("auxData %s, ethers %s", got, v.AuxData)
			}
			if got := tk.Hash().Hex(); got != v.Hash {
				t.Fatalf("hash %s, ethers %s", got, v.Hash)
			}
			sig := common.FromHex(v.Signature)
			if got, err := tk.Signer(sig); err != nil || got != k.Address {
				t.Fatalf("ethers' signature recovers %s (%v), want %s", got, err, k.Address)
			}
			mine, err := tk.Sign(k)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mine, sig) {
				t.Fatalf("Go signature %x, ethers %x (both should be RFC 6979)", mine, sig)
			}
			if got := pm.Wins(sig, recipientRand, tk.WinProb); got != v.Wins {
				t.Fatalf("Wins %v, ethers %v", got, v.Wins)
			}
			outcomes[v.Wins]++
		})
	}
	if len(file.Tickets) < 10 || outcomes[true] == 0 || outcomes[false] == 0 {
		t.Errorf("vectors too thin: %d tickets, outcomes %v", len(file.Tickets), outcomes)
	}
}

type ethersTicketItem struct {
	Kind           string           `json:"kind"`
	Ticket         ethersTicketJSON `json:"ticket"`
	Signature      string           `json:"signature"`
	ExpectedSigner string           `json:"expectedSigner"`
	RecipientRand  string           `json:"recipientRand"`
	Wins           bool             `json:"wins"`
}

type ethersTicketResult struct {
	OK    bool   `json:"ok"`
	Hash  string `json:"hash"`
	Wins  bool   `json:"wins"`
	Error string `json:"error"`
}

func TestGoTicketsVerifyInEthers(t *testing.T) {
	root := xcheck.Root(t)
	k, err := sign.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	seed := rand.Uint64()
	t.Logf("seed %d, key %s", seed, k.Address)
	rng := rand.New(rand.NewPCG(seed, 2))
	u256 := func() *big.Int {
		b := make([]byte, 1+rng.IntN(32))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return new(big.Int).SetBytes(b)
	}
	hash := func() common.Hash { return common.BigToHash(u256()) }

	var good, bad []ethersTicketItem
	var hashes []common.Hash
	for i := range 16 {
		recipientRand := u256()
		tk := pm.Ticket{
			Recipient:   common.BytesToAddress(hash().Bytes()),
			Sender:      k.Address,
			FaceValue:   u256(),
			WinProb:     new(big.Int).Rsh(pm.MaxWinProb, uint(rng.IntN(3))), // certain, 1/2, 1/4
			SenderNonce: rng.Uint32(),
			// The four auxData cases: none, round only, hash only, both.
			RecipientRandHash: pm.RandHash(recipientRand),
		}
		if i%4&1 != 0 {
			tk.CreationRound = rng.Int64N(1 << 40)
		}
		if i%4&2 != 0 {
			tk.CreationRoundBlockHash = hash()
		}
		sig, err := tk.Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		it := ethersTicketItem{
			Kind: "ticket", Ticket: ethersTicketOf(tk), Signature: "0x" + common.Bytes2Hex(sig),
			ExpectedSigner: k.Address.Hex(), RecipientRand: recipientRand.String(), Wins: pm.Wins(sig, recipientRand, tk.WinProb),
		}
		good = append(good, it)
		hashes = append(hashes, tk.Hash())

		// Every field changed, and a false claim about the win.
		for name, change := range map[string]func(*ethersTicketJSON){
			"recipient":              func(j *ethersTicketJSON) { j.Recipient = common.BytesToAddress(hash().Bytes()).Hex() },
			"sender":                 func(j *ethersTicketJSON) { j.Sender = common.BytesToAddress(hash().Bytes()).Hex() },
			"faceValue":              func(j *ethersTicketJSON) { j.FaceValue = new(big.Int).Xor(tk.FaceValue, big.NewInt(1)).String() },
			"winProb":                func(j *ethersTicketJSON) { j.WinProb = new(big.Int).Xor(tk.WinProb, big.NewInt(1)).String() },
			"senderNonce":            func(j *ethersTicketJSON) { j.SenderNonce = fmt.Sprint(tk.SenderNonce ^ 1) },
			"recipientRandHash":      func(j *ethersTicketJSON) { j.RecipientRandHash = hash().Hex() },
			"creationRound":          func(j *ethersTicketJSON) { j.CreationRound = fmt.Sprint(tk.CreationRound ^ 1) },
			"creationRoundBlockHash": func(j *ethersTicketJSON) { j.CreationRoundBlockHash = hash().Hex() },
		} {
			b := it
			change(&b.Ticket)
			if b.Ticket == it.Ticket {
				t.Fatalf("tampering %s changed nothing", name)
			}
			bad = append(bad, b)
		}
		lie := it
		lie.Wins = !it.Wins
		bad = append(bad, lie)
	}

	res, code := xcheck.Verify[ethersTicketItem, ethersTicketResult](t, root, good)
	for i, r := range res {
		if !r.OK {
			t.Errorf("ethers refused Go's ticket %+v: %s", good[i].Ticket, r.Error)
		}
		if r.Hash != hashes[i].Hex() {
			t.Errorf("ethers hash %s, Go %s", r.Hash, hashes[i].Hex())
		}
	}
	if code != 0 {
		t.Errorf("xcheck verify exited %d on good tickets", code)
	}
	res, code = xcheck.Verify[ethersTicketItem, ethersTicketResult](t, root, bad)
	for i, r := range res {
		if r.OK {
			t.Errorf("ethers accepted a tampered ticket %+v (wins %v)", bad[i].Ticket, bad[i].Wins)
		}
	}
	if code != 1 {
		t.Errorf("xcheck verify exited %d on tampered tickets, want 1", code)
	}
}

// TestEthersTicketsUpToDate: the committed vectors are what the script
// generates now.
func TestEthersTicketsUpToDate(t *testing.T) {
	root := xcheck.Root(t)
	out, code := xcheck.Run(t, root, nil, "gen", "tickets")
	if code != 0 {
		t.Fatalf("gen exited %d", code)
	}
	committed, err := os.ReadFile(ethersTicketsFile)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(committed, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%s is stale: run scripts/ethers/regen.sh", ethersTicketsFile)
	}
}
