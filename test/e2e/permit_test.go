package e2e

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	whipclient "github.com/castnet/castnet/internal/publish"
)

// TestPublishPermits drives a node that requires permits with `castnet
// publish`: each refusal names its reason, and a listed key goes live.
func TestPublishPermits(t *testing.T) {
	needTools(t, "ffmpeg")
	good, stranger := newKey(t), newKey(t)
	list := filepath.Join(t.TempDir(), "publishers")
	if err := os.WriteFile(list, []byte("# allowed\n"+good.Address.Hex()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "-require-permit", "-publishers", list)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	short := []string{"-test-pattern", "-duration", "3s", "-width", "320", "-height", "240"}
	refused := func(name, want string, args ...string) {
		t.Helper()
		out, err := publish(ctx, append(append([]string{}, short...), args...)...)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("%s: want refusal with %q; got %v:\n%s", name, want, err, out)
		}
	}
	url := n.URL + "/whip/cam"
	refused("anonymous", "401 Unauthorized", url)
	refused("unlisted key", "is not allowed", append(keyFlags(t, stranger), url)...)
	refused("expired permit", "permit expired", append(keyFlags(t, good), "-permit-ttl", "-1m", url)...)
	other, _, err := whipclient.SignPermit(ctx, nil, n.URL+"/whip/other", good, time.Hour, big.NewInt(0))
	if err != nil {
		t.Fatal(err)
	}
	refused("permit for another stream", "permit is for stream", "-token", other, url)

	// A token used twice: live the first time, replayed the second.
	tok, _, err := whipclient.SignPermit(ctx, nil, url, good, time.Hour, big.NewInt(0))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := publish(ctx, append([]string{"-token", tok}, append(short, url)...)...); err != nil {
		t.Fatalf("first use of the permit: %v\n%s", err, out)
	}
	if st := n.waitState("cam", "ended", 30*time.Second); st.Segments == 0 {
		t.Errorf("the permitted stream made no segments: %+v", st)
	}
	refused("replayed permit", "permit replayed", "-token", tok, url)
}
