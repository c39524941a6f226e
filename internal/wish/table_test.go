package wish

import (
	"errors"
	"sync"
	"testing"
)

func TestTableReservesReleasesAndShuts(t *testing.T) {
	var tab Table[string]
	refuse := errors.New("full")
	if err := tab.Reserve("a", "A", func(n int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := tab.Reserve("b", "B", func(n int) error {
		if n != 1 {
			t.Errorf("check saw %d sessions, want 1", n)
		}
		return refuse
	}); err != refuse || tab.Len() != 1 {
		t.Fatalf("refused reserve: %v, %d sessions", err, tab.Len())
	}
	if s, ok := tab.Get("a"); !ok || s != "A" {
		t.Fatalf("Get: %q %v", s, ok)
	}
	var wg sync.WaitGroup
	ended := []string{}
	tab.Shut(func(s string) {
		ended = append(ended, s)
		wg.Add(1)
		go func() { defer wg.Done(); tab.Release("a", nil) }()
	})
	wg.Wait()
	if len(ended) != 1 || tab.Len() != 0 {
		t.Fatalf("Shut ended %v, %d left", ended, tab.Len())
	}
	if err := tab.Reserve("c", "C", func(int) error { return nil }); err != ErrShuttingDown {
		t.Fatalf("reserve after Shut: %v", err)
	}
}
