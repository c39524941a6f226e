package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// UDP is the machine's UDP counters (/proc/net/snmp), all sockets.
type UDP struct {
	InDatagrams  uint64
	RcvbufErrors uint64 // datagrams dropped because a receive buffer was full
}

// ReadUDP reads /proc/net/snmp.
func ReadUDP() (UDP, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return UDP{}, err
	}
	return ParseUDP(b)
}

// ParseUDP reads the "Udp:" header and value lines.
func ParseUDP(b []byte) (UDP, error) {
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Udp:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		if len(f) != len(names) {
			return UDP{}, fmt.Errorf("%w: Udp has %d names and %d values", ErrFormat, len(names), len(f))
		}
		var u UDP
		for i, n := range names {
			dst := map[string]*uint64{"InDatagrams": &u.InDatagrams, "RcvbufErrors": &u.RcvbufErrors}[n]
			if dst == nil {
				continue
			}
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				return UDP{}, fmt.Errorf("%w: Udp %s %q", ErrFormat, n, f[i])
			}
			*dst = v
		}
		return u, nil
	}
	return UDP{}, fmt.Errorf("%w: no Udp lines", ErrFormat)
}
