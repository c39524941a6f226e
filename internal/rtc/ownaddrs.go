package rtc

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ownRefresh is how often at most an address not in the set makes ownAddrs
// list the interfaces again: a new address (DHCP, a VPN coming up) is known
// within a second, and a flood from other machines costs one listing a
// second.
const ownRefresh = time.Second

// ownAddrs is the set of this machine's interface addresses, read on every
// packet of a "local:PORT" socket without a lock.
type ownAddrs struct {
	list func() ([]net.Addr, error)
	now  func() time.Time

	set atomic.Pointer[map[netip.Addr]struct{}]

	mu   sync.Mutex // serializes refresh
	next time.Time  // no refresh before; guarded by mu
}

func newOwnAddrs(list func() ([]net.Addr, error), now func() time.Time) *ownAddrs {
	o := &ownAddrs{list: list, now: now}
	o.load()
	return o
}

// has: a is loopback or, now or after a refresh, one of the set.
func (o *ownAddrs) has(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || o.in(a) {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if t := o.now(); t.Before(o.next) {
		return false
	}
	o.load()
	return o.in(a)
}

func (o *ownAddrs) in(a netip.Addr) bool {
	_, ok := (*o.set.Load())[a]
	return ok
}

// load lists the interfaces; a failed listing keeps the set it had.
func (o *ownAddrs) load() {
	o.next = o.now().Add(ownRefresh)
	addrs, err := o.list()
	if err != nil && o.set.Load() != nil {
		return
	}
	set := make(map[netip.Addr]struct{}, len(addrs))
	for _, ia := range addrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			set[p.Addr().Unmap()] = struct{}{}
		}
	}
	o.set.Store(&set)
}
