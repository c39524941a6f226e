package e2e

import (
	"context"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/pion/webrtc/v4"

	"github.com/castnet/castnet/internal/ledger"
	whipclient "github.com/castnet/castnet/internal/publish"
	"github.com/castnet/castnet/internal/sign"
)

// TestPermitSurvivesFailedPosts (issue 11, attack 1): a POST refused
// because the stream is live (409) changes nothing about the live session.
// A victim publishes under a funded permit; while it is live an attacker
// POSTs to the same name, anonymously on an open node, or with a permit of
// its own (funded with 1 wei) on a node that requires permits. Both are
// refused with 409, and afterwards the victim's stream ran to its end, every
// custody segment record links the victim's permit (castnet verify
// -strict), the victim was billed and the attacker was not, and the
// attacker's permit nonce is unspent.
func TestPermitSurvivesFailedPosts(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	t.Run("anonymous POST to an open node", func(t *testing.T) {
		a := startAdmissionNode(t)
		a.attack(t, func(t *testing.T) {
			resp := whipPost(t, a.n.URL+"/whip/"+admissionStream, "")
			wantCode(t, resp, http.StatusConflict, "already live")
		})
		a.check(t)
	})
	t.Run("another funded permit, permits required", func(t *testing.T) {
		a := startAdmissionNode(t, "-require-permit")
		url := a.n.URL + "/whip/" + admissionStream
		attacker := newKey(t)
		a.fund(t, attacker, big.NewInt(1))
		tok, _, err := whipclient.SignPermit(context.Background(), nil, url, attacker, time.Hour, big.NewInt(10))
		if err != nil {
			t.Fatal(err)
		}
		a.attack(t, func(t *testing.T) {
			wantCode(t, whipPost(t, url, tok), http.StatusConflict, "already live")
			wantCode(t, whipPost(t, url, ""), http.StatusUnauthorized, "wallet-signed")
		})
		a.check(t)
		if bal := a.balance(t, attacker); bal.Cmp(big.NewInt(1)) != 0 {
			t.Errorf("the attacker's balance is %s wei, want its 1 wei untouched", bal)
		}
		// The 409 spent nothing: the name is free now and the same permit
		// is admitted, not refused as replayed.
		resp := whipPost(t, url, tok)
		wantCode(t, resp, http.StatusCreated, "")
		req, _ := http.NewRequest(http.MethodDelete, a.n.URL+resp.Header.Get("Location"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if del, err := http.DefaultClient.Do(req); err != nil || del.StatusCode != http.StatusOK {
			t.Errorf("DELETE the attacker's own session: %v %v", del, err)
		}
	})
}

const admissionStream = "victim"

// admissionNode is a paid dev node (1 wei per pixel, the default ladder) and a
// victim publisher funded in its ledger.
type admissionNode struct {
	n      *node
	ledger *ledger.Ledger
	victim sign.Key
	funded *big.Int
}

func startAdmissionNode(t *testing.T, extra ...string) *admissionNode {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	a := &admissionNode{ledger: openLedger(t, path), victim: newKey(t),
		funded: new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)}
	a.fund(t, a.victim, a.funded)
	a.n = startNode(t, append([]string{"-price", "1", "-ledger", path}, extra...)...)
	return a
}

// fund gives k a publisher balance of wei in the node's ledger.
func (a *admissionNode) fund(t *testing.T, k sign.Key, wei *big.Int) {
	t.Helper()
	if err := a.ledger.FundPublisher(context.Background(), k.Address, wei); err != nil {
		t.Fatal(err)
	}
}

func (a *admissionNode) balance(t *testing.T, k sign.Key) *big.Int {
	t.Helper()
	acct, err := a.ledger.Account(context.Background(), k.Address)
	if err != nil {
		t.Fatal(err)
	}
	return acct.Publisher
}

// attack starts the victim's 12 s stream, runs hit once two of its
// segments are published, and waits for the stream to end.
func (a *admissionNode) attack(t *testing.T, hit func(t *testing.T)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = publish(ctx, append(keyFlags(t, a.victim), "-test-pattern", "-duration", "12s",
			"-width", "320", "-height", "240", a.n.URL+"/whip/"+admissionStream)...)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for st, _ := a.n.stream(admissionStream); st.Published < 2; st, _ = a.n.stream(admissionStream) {
		if time.Now().After(deadline) {
			t.Fatalf("the victim's stream published %d segments in 30 s: %+v", st.Published, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	hit(t)
	if err := <-done; err != nil {
		t.Fatalf("the victim's publish: %v\n%s", err, out)
	}
}

// check: the victim's stream ended on its own, fully signed for its permit,
// and was billed.
func (a *admissionNode) check(t *testing.T) {
	t.Helper()
	st := a.n.waitState(admissionStream, "ended", 60*time.Second)
	if st.Published < 5 || strings.Contains(st.LastError, "cannot pay") {
		t.Errorf("the victim's stream: %+v", st)
	}
	dir := filepath.Join(a.n.Data, "hls", admissionStream)
	out, err := exec.Command(binary, "verify", "-strict", dir).CombinedOutput()
	if err != nil {
		t.Errorf("castnet verify -strict: %v\n%s", err, out)
	}
	for _, line := range custodySegments(t, dir) {
		if line.Proof == nil {
			t.Errorf("segment %d is unsigned: %s", line.Seq, line.Unsigned)
			continue
		}
		var rec struct {
			Permit string `json:"permit"`
		}
		if err := json.Unmarshal(line.Proof.Segment.Record, &rec); err != nil || common.HexToHash(rec.Permit) == (common.Hash{}) {
			t.Errorf("segment %d record links permit %q (%v), want the victim's", line.Seq, rec.Permit, err)
		}
	}
	if bal := a.balance(t, a.victim); bal.Cmp(a.funded) >= 0 {
		t.Errorf("the victim was not billed: balance %s of %s", bal, a.funded)
	}
}

// custodySegment is the part of a custody segment line the test reads.
type custodySegment struct {
	Kind     string `json:"kind"`
	Seq      uint64 `json:"seq"`
	Unsigned string `json:"unsigned"`
	Proof    *struct {
		Segment struct {
			Record json.RawMessage `json:"record"`
		} `json:"segment"`
	} `json:"proof"`
}

func custodySegments(t *testing.T, dir string) []custodySegment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "custody.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []custodySegment
	for line := range strings.Lines(string(b)) {
		var l custodySegment
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("custody line %q: %v", line, err)
		}
		if l.Kind == "segment" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no segment lines in %s", dir)
	}
	return out
}

// whipPost POSTs a real offer (H.264 and Opus, made by pion) to url, with
// the permit token tok when not empty.
func whipPost(t *testing.T, url, tok string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(sdpOffer(t)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func sdpOffer(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, mime := range []string{webrtc.MimeTypeH264, webrtc.MimeTypeOpus} {
		tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, "t", "s")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// wantCode checks a response's status and that its body holds want.
func wantCode(t *testing.T, resp *http.Response, code int, want string) {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code || !strings.Contains(string(b), want) {
		t.Errorf("POST: %d %q, want %d with %q", resp.StatusCode, b, code, want)
	}
}
