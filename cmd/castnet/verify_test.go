package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/castnet/castnet/internal/sign"
	"github.com/castnet/castnet/internal/transcode"
	"github.com/castnet/castnet/internal/trust"
	"github.com/castnet/castnet/internal/verify/verifytest"
)

// verifyFixture publishes one real segment through a transcoder, an
// orchestrator and a broadcaster, as the live path does, and one unsigned
// segment, into a stream directory.
func verifyFixture(t *testing.T) (dir string, b sign.Key) {
	t.Helper()
	c := verifytest.New(t, verifytest.Options{Domain: sign.DefaultDomain(),
		Profiles: []transcode.Profile{transcode.SourceProfile(), {Name: "120p", Width: 160, Height: 120, Bitrate: 100_000, FPS: 25}}})
	c.Publish(t, 0, "testsrc")
	c.Unsigned(t, 1, "testsrc", "transcode failed")
	return c.Dir, c.Broadcaster
}

func TestVerifyCommand(t *testing.T) {
	dir, bk := verifyFixture(t)
	verify := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := runVerify(t.Context(), args, &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}

	out, _, err := verify(dir)
	if err != nil || !strings.Contains(out, "seq 0  ok") || !strings.Contains(out, "seq 1  unsigned  transcode failed") ||
		!strings.Contains(out, "verdict: OK") {
		t.Fatalf("intact: %v\n%s", err, out)
	}
	t.Logf("castnet verify %s:\n%s", dir, out)

	if _, _, err := verify("-strict", dir); err == nil || !strings.Contains(err.Error(), "1 of 2 segments are unsigned") {
		t.Errorf("-strict: %v", err)
	}
	if _, _, err := verify("-broadcaster", bk.Address.Hex(), dir); err != nil {
		t.Errorf("-broadcaster (the right one): %v", err)
	}
	if _, _, err := verify("-broadcaster", "0x0000000000000000000000000000000000000001", dir); err == nil {
		t.Errorf("-broadcaster (another): verified")
	}

	out, _, err = verify("-json", dir)
	var rep struct {
		OK     bool `json:"ok"`
		Totals struct {
			Segments, OK, Unsigned int
		} `json:"totals"`
		Segments []struct {
			Status string `json:"status"`
		} `json:"segments"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || rep.Totals.Segments != 2 || rep.Totals.OK != 1 ||
		rep.Totals.Unsigned != 1 || len(rep.Segments) != 2 || rep.Segments[0].Status != "ok" {
		t.Errorf("-json: %v %+v\n%s", err, rep, out)
	}

	// Over HTTP, from the custody handler.
	srv := httptest.NewServer(trust.CustodyHandler(func(s string) (string, bool) { return dir, s == "cam" }))
	defer srv.Close()
	if out, _, err := verify(srv.URL + "/custody/cam/"); err != nil || !strings.Contains(out, "verdict: OK") {
		t.Errorf("over HTTP: %v\n%s", err, out)
	}

	// One flipped byte in a rendition.
	path := filepath.Join(dir, "120p", "0.ts")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	verifytest.Write(t, path, b)
	out, _, err = verify(dir)
	if err == nil || err.Error() != "1 of 2 segments do not check out" || !strings.Contains(out, "seq 0  MISMATCH") ||
		!strings.Contains(out, "rendition 120p (120p/0.ts): SHA-256") || !strings.Contains(out, "verdict: FAIL") {
		t.Errorf("tampered: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"verify", dir}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "castnet: 1 of 2 segments do not check out") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestVerifyCommandUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		err  error
	}{
		{nil, "give one stream directory", errUsage},
		{[]string{"a", "b"}, "give one stream directory", errUsage},
		{[]string{"-nope", "a"}, "flag provided but not defined", errUsage},
	} {
		var stdout, stderr bytes.Buffer
		err := runVerify(t.Context(), c.args, &stdout, &stderr)
		if err != c.err || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: %v, %q", c.args, err, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if err := runVerify(t.Context(), []string{t.TempDir()}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "no custody.jsonl") {
		t.Errorf("empty dir: %v", err)
	}
	if err := runVerify(t.Context(), []string{"-broadcaster", "nope", "x"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "not an address") {
		t.Errorf("bad -broadcaster: %v", err)
	}
	if code := run(t.Context(), []string{"verify", "-h"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "castnet verify [-json] [-strict]") {
		t.Errorf("-h: %d %q", code, stderr.String())
	}
}

func TestVerifyCommandProgress(t *testing.T) {
	k, err := sign.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	d, addr := sign.DefaultDomain(), k.Address
	var log []byte
	for i := range 250 {
		e := trust.Entry{Kind: trust.KindSegment, Seq: uint64(i), Source: trust.SourceDir + "/" + strconv.Itoa(i) + ".ts", Unsigned: "no transcoder"}
		if i == 0 {
			e = trust.Entry{Kind: trust.KindNode, Domain: &d, Broadcaster: &addr}
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		log = append(append(log, b...), '\n')
	}
	dir := t.TempDir()
	verifytest.Write(t, filepath.Join(dir, trust.CustodyFile), log)
	var stdout, stderr bytes.Buffer
	if err := runVerify(t.Context(), []string{dir}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "249/249 segments checked") {
		t.Errorf("stderr %q", stderr.String())
	}
	stderr.Reset()
	if err := runVerify(t.Context(), []string{"-q", "-strict", dir}, &stdout, &stderr); err == nil || stderr.Len() != 0 {
		t.Errorf("-q -strict: %v, stderr %q", err, stderr.String())
	}
}
