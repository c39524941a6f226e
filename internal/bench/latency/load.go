package latency

import (
	"os"
	"time"

	"github.com/castnet/castnet/internal/bench/procstat"
)

// Load is how busy the machine was during one phase, in cores: the
// castnet node with the ffmpeg runs it reaped, this process (publishers
// and the poller), and everything else on the machine. On a shared machine
// "other" says whether a phase's figures were disturbed.
type Load struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
	Machine float64 `json:"machine_cores"`
	Node    float64 `json:"node_cores"`
	Self    float64 `json:"self_cores"`
	Other   float64 `json:"other_cores"`
	CPUs    int     `json:"cpus"`
}

// meter takes the readings a Load is computed from.
type meter struct {
	nodePID    int
	at         time.Time
	machine    procstat.Machine
	node, self procstat.Proc
	ok         bool
}

func startMeter(nodePID int) *meter {
	m := &meter{nodePID: nodePID, at: time.Now()}
	m.machine, m.node, m.self, m.ok = read(nodePID)
	return m
}

func read(nodePID int) (procstat.Machine, procstat.Proc, procstat.Proc, bool) {
	mach, err1 := procstat.ReadMachine()
	node, err2 := procstat.Read(nodePID)
	self, err3 := procstat.Read(os.Getpid())
	return mach, node, self, err1 == nil && err2 == nil && err3 == nil
}

// stop ends the phase; the zero Load (but for its name and length) when
// /proc could not be read.
func (m *meter) stop(phase string) Load {
	wall := time.Since(m.at)
	l := Load{Phase: phase, Seconds: wall.Seconds()}
	mach, node, self, ok := read(m.nodePID)
	if !ok || !m.ok || wall <= 0 {
		return l
	}
	l.CPUs = mach.CPUs
	l.Machine = procstat.Share(m.machine, mach) * float64(mach.CPUs)
	l.Node = (node.CPUWithChildren() - m.node.CPUWithChildren()).Seconds() / wall.Seconds()
	l.Self = (self.CPUWithChildren() - m.self.CPUWithChildren()).Seconds() / wall.Seconds()
	l.Other = max(0, l.Machine-l.Node-l.Self)
	return l
}
