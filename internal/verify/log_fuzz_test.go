package verify

import (
	"bytes"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/trust"
)

// vfSeedLines are custody lines as Record writes them, built without
// ffmpeg: a node line, a permit line, a signed and an unsigned segment.
func vfSeedLines(f *testing.F) [][]byte {
	f.Helper()
	k, err := sign.NewKey()
	if err != nil {
		f.Fatal(err)
	}
	d := sign.DefaultDomain().WithChainID(big.NewInt(1))
	p := sign.Permit{Stream: "cam", Broadcaster: k.Address, Expires: big.NewInt(1 << 40), MaxPricePerPixel: big.NewInt(3), Nonce: big.NewInt(1)}
	perm := reseal(k, d, p)
	seg := reseal(k, d, sign.Segment{Stream: "cam", Seq: 4, DurationMs: 2000, Hash: common.Hash{1}})
	res := reseal(k, d, sign.TranscodeResult{Segment: common.Hash{1}, Renditions: []common.Hash{{2}, {3}}, Pixels: 99, Transcoder: k.Address})
	rc := reseal(k, d, sign.TranscodeReceipt{Segment: common.Hash{1}, Renditions: []common.Hash{{2}, {3}}, Pixels: 99,
		Orchestrator: k.Address, Transcoder: k.Address})
	addr := k.Address
	var out [][]byte
	for _, e := range []trust.Entry{
		{Kind: trust.KindNode, Domain: &d, Broadcaster: &addr},
		{Kind: trust.KindPermit, Publisher: &addr, Permit: &perm},
		{Kind: trust.KindSegment, Seq: 4, Source: trust.SourceDir + "/4.ts", Renditions: []trust.RenditionFile{{Name: "source", File: "source/4.ts"}, {Name: "360p", File: "360p/4.ts"}},
			Proof: &trust.Proof{Segment: seg, Answer: trust.Answer{Receipt: rc, Result: res}}},
		{Kind: trust.KindSegment, Seq: 0, Source: trust.SourceDir + "/0.ts", Unsigned: "transcode failed"},
	} {
		b, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzCustodyLine: parsing a custody line never panics, and an accepted
// entry marshals to a line that parses to the same entry.
func FuzzCustodyLine(f *testing.F) {
	for _, l := range vfSeedLines(f) {
		f.Add(l)
	}
	for _, s := range []string{
		`{"kind":"node","domain":{"name":"castnet","version":"1","chainId":"115792089237316195423570985008687907853269984665640564039457584007913129639935"},"broadcaster":"0x0000000000000000000000000000000000000001"}`,
		`{"kind":"node","domain":{"chainId":0},"broadcaster":"0x0000000000000000000000000000000000000001"}`,
		`{"kind":"node","domain":{},"broadcaster":"0x0000000000000000000000000000000000000001"}`,
		`{"kind":"segment","seq":1,"source":"../x","unsigned":"x"}`,
		`{"kind":"segment","seq":1,"source":"a/1.ts","renditions":[{"name":"A","file":"a"}],"unsigned":"x"}`,
		`{"kind":"segment","seq":18446744073709551615,"source":"a/1.ts","renditions":null,"unsigned":"\u00ff"}`,
		`{"kind":"segment","seq":1,"source":"a/1.ts","proof":{"segment":{"record":null,"signature":"0x"},"answer":{"receipt":{},"result":{"record":[1,2]}}}}`,
		`null`, `[]`, `{}`, `{"kind":"node"} {}`, "{\"kind\":\"segment\",\"seq\":1,\"source\":\"a\\u0000b\",\"unsigned\":\"x\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := parseEntry(line)
		if err != nil {
			return
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("accepted %q, cannot marshal it: %v", line, err)
		}
		e2, err := parseEntry(b)
		if err != nil {
			t.Fatalf("accepted %q, refused its marshalled form %s: %v", line, b, err)
		}
		b2, err := json.Marshal(e2)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("round trip of %q changed it:\n%s\n%s (%v)", line, b, b2, err)
		}
	})
}
