// Package procstat reads what the kernel counts for a process and for the
// whole machine (Linux /proc): CPU time, resident memory, threads. The
// benchmarks use it to charge each process under test with its own CPU,
// children it waited for included (ffmpeg under an orchestrator).
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrFormat reports a /proc file this package could not read.
var ErrFormat = errors.New("procstat: unexpected /proc format")

// clockTicks is USER_HZ, the unit of /proc CPU times; 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// maxTicks bounds one /proc time field: a sixteenth of what a
// time.Duration holds (about 18 years of CPU), so that the sums of up to
// eight fields cannot overflow either. A larger count is not a reading.
const maxTicks = int64(1<<63-1) / int64(time.Second/clockTicks) / 16

// Proc is one reading of a process.
type Proc struct {
	User, System time.Duration // the process's own CPU
	// ChildUser, ChildSystem are the CPU of its children that it waited
	// for (ffmpeg runs, once reaped).
	ChildUser, ChildSystem time.Duration
	RSS                    int64 // resident set, bytes
	Threads                int
}

// CPU is the process's own CPU time.
func (p Proc) CPU() time.Duration { return p.User + p.System }

// CPUWithChildren adds the CPU of the children it reaped.
func (p Proc) CPUWithChildren() time.Duration {
	return p.User + p.System + p.ChildUser + p.ChildSystem
}

// Read reads /proc/PID/stat and /proc/PID/status.
func Read(pid int) (Proc, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, err
	}
	p, err := ParseStat(stat)
	if err != nil {
		return Proc{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Proc{}, err
	}
	p.RSS, err = parseRSS(status)
	return p, err
}

// ParseStat reads the CPU fields of a /proc/PID/stat line (proc(5)). The
// command name in parentheses may hold spaces and parentheses itself, so
// fields are counted from the last ')'.
func ParseStat(b []byte) (Proc, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Proc{}, fmt.Errorf("%w: stat without a command name", ErrFormat)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, num_threads field 20.
	if len(f) < 18 {
		return Proc{}, fmt.Errorf("%w: stat has %d fields after the name", ErrFormat, len(f))
	}
	var v [5]int64
	for k, idx := range []int{11, 12, 13, 14, 17} {
		n, err := strconv.ParseInt(f[idx], 10, 64)
		if err != nil || n < 0 || n > maxTicks {
			return Proc{}, fmt.Errorf("%w: stat field %d %q", ErrFormat, idx+3, f[idx])
		}
		v[k] = n
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * (time.Second / clockTicks) }
	return Proc{User: tick(v[0]), System: tick(v[1]), ChildUser: tick(v[2]), ChildSystem: tick(v[3]),
		Threads: int(v[4])}, nil
}

func parseRSS(status []byte) (int64, error) {
	for _, line := range strings.Split(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: VmRSS %q", ErrFormat, rest)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: VmRSS %q", ErrFormat, rest)
		}
		return kb << 10, nil
	}
	return 0, nil // a zombie has no VmRSS
}

// Machine is one reading of the whole machine's CPU (/proc/stat).
type Machine struct {
	Busy, Total time.Duration // summed over every CPU
	CPUs        int
}

// ReadMachine reads /proc/stat.
func ReadMachine() (Machine, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	return ParseMachine(b)
}

// ParseMachine reads the aggregate "cpu" line and counts the cpuN lines.
// Busy is everything but idle and iowait.
func ParseMachine(b []byte) (Machine, error) {
	var m Machine
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			m.CPUs++
			continue
		}
		if len(f) < 5 {
			return Machine{}, fmt.Errorf("%w: cpu line %q", ErrFormat, line)
		}
		found = true
		for i, s := range f[1:] {
			if i >= 8 { // guest times are already in user and nice
				break
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 || n > maxTicks {
				return Machine{}, fmt.Errorf("%w: cpu line %q", ErrFormat, line)
			}
			d := time.Duration(n) * (time.Second / clockTicks)
			m.Total += d
			if i != 3 && i != 4 { // idle, iowait
				m.Busy += d
			}
		}
	}
	if !found {
		return Machine{}, fmt.Errorf("%w: no cpu line", ErrFormat)
	}
	return m, nil
}

// Share is the busy fraction of the machine between two readings, 0..1.
func Share(from, to Machine) float64 {
	total := to.Total - from.Total
	if total <= 0 {
		return 0
	}
	return float64(to.Busy-from.Busy) / float64(total)
}
