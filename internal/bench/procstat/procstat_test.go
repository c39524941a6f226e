package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCountsFieldsAfterTheLastParenthesis(t *testing.T) {
	line := "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 30 12 20 0 9 0 1000 2000000 500 18446744073709551615\n"
	p, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := Proc{User: 2500 * time.Millisecond, System: 750 * time.Millisecond,
		ChildUser: 300 * time.Millisecond, ChildSystem: 120 * time.Millisecond, Threads: 9}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	if p.CPUWithChildren() != 3670*time.Millisecond || p.CPU() != 3250*time.Millisecond {
		t.Errorf("sums %v %v", p.CPU(), p.CPUWithChildren())
	}
}

func TestParseStatRefusesGarbage(t *testing.T) {
	for _, in := range []string{"", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 0 0 0 0 0 1 0"} {
		if _, err := ParseStat([]byte(in)); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

func TestReadSelfSeesItsOwnCPUAndMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.CPU()-before.CPU() < 100*time.Millisecond || after.RSS < 1<<20 || after.Threads < 1 {
		t.Fatalf("spun 300 ms: cpu %v → %v, rss %d, threads %d (%d)", before.CPU(), after.CPU(), after.RSS, after.Threads, x)
	}
}

func TestParseMachineSumsBusyAndCountsCPUs(t *testing.T) {
	in := "cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\ncpu1 50 3 25 400 10 2 1 0 0 0\nintr 1\n"
	m, err := ParseMachine([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.CPUs != 2 || m.Busy != 1600*time.Millisecond || m.Total != 9800*time.Millisecond {
		t.Fatalf("got %+v", m)
	}
	later := Machine{Busy: m.Busy + time.Second, Total: m.Total + 2*time.Second}
	if s := Share(m, later); s != 0.5 {
		t.Errorf("share %v", s)
	}
	if _, err := ParseMachine([]byte("intr 1\n")); err == nil {
		t.Error("no cpu line accepted")
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (a) S 1 1 1 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 5 6 7\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseStat(b)
		if err == nil && (p.User < 0 || p.System < 0 || p.Threads < 0) {
			t.Fatalf("negative reading %+v", p)
		}
	})
}

func FuzzParseMachine(f *testing.F) {
	f.Add([]byte("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMachine(b)
		if err == nil && (m.Busy < 0 || m.Busy > m.Total) {
			t.Fatalf("busy %v of %v", m.Busy, m.Total)
		}
	})
}

func TestParseUDPReadsDropsByName(t *testing.T) {
	in := "Ip: 1 2\nIp: 3 4\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\nUdp: 2337313 221 26902 2364443 26902\nUdpLite: InDatagrams\nUdpLite: 0\n"
	u, err := ParseUDP([]byte(in))
	if err != nil || u.InDatagrams != 2337313 || u.RcvbufErrors != 26902 {
		t.Fatalf("got %+v, %v", u, err)
	}
	for _, bad := range []string{"", "Udp: InDatagrams RcvbufErrors\nUdp: 1\n", "Udp: RcvbufErrors\nUdp: x\n"} {
		if _, err := ParseUDP([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseUDP(f *testing.F) {
	f.Add([]byte("Udp: InDatagrams RcvbufErrors\nUdp: 5 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseUDP(b) })
}
