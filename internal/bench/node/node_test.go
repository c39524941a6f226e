package node

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestScanFindsTheAnnouncedURLs(t *testing.T) {
	n := &Node{logs: newTail(2)}
	up, dbg := make(chan string, 1), make(chan string, 1)
	logs := strings.Join([]string{
		`time=… level=INFO msg="debug endpoints up" pprof=http://127.0.0.1:40001/debug/pprof/ runtime=http://127.0.0.1:40001/debug/runtime`,
		`time=… level=INFO msg="ledger open" path=/tmp/x`,
		`time=… level=INFO msg="castnet dev is up: open http://127.0.0.1:40000/ to go live" publish=http://127.0.0.1:40000/ whip=…`,
	}, "\n")
	n.scan(strings.NewReader(logs), up, dbg)
	if got := <-up; got != "http://127.0.0.1:40000" {
		t.Errorf("up %q", got)
	}
	if got := <-dbg; got != "http://127.0.0.1:40001" {
		t.Errorf("debug %q", got)
	}
	if tl := n.Logs(); strings.Count(tl, "\n") != 1 || !strings.Contains(tl, "is up") {
		t.Errorf("tail kept %q, want the last 2 lines", tl)
	}
}

func TestStartSaysWhyANodeNeverCameUp(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	// sh refuses castnet's flags and exits: Start must return, with the
	// output, instead of waiting for an "is up" line.
	_, err = Start(context.Background(), sh, "dev")
	if !errors.Is(err, ErrStart) {
		t.Fatalf("err %v, want ErrStart", err)
	}
}
