package rtc

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pion/logging"
)

// Reach is who can send media to the node's WebRTC UDP port.
type Reach int

const (
	// ReachLoopback: bound to a loopback address, so peers must send to
	// 127.0.0.1. Clients that send only from their interfaces' own
	// addresses cannot: libnice (GStreamer's webrtcbin, simple-whip-client,
	// whipsink) gathers no loopback candidate and pins each socket to its
	// interface (IP_UNICAST_IF), so its checks to 127.0.0.1 never arrive.
	ReachLoopback Reach = iota
	// ReachLocal: "local:PORT", every IPv4 address of this machine,
	// answering only packets from this machine's own addresses.
	ReachLocal
	// ReachAny: any other address; other machines can reach it.
	ReachAny
)

// LocalHost is the UDPAddr host that selects ReachLocal ("local:8189").
const LocalHost = "local"

// listen opens addr: "local:PORT" is the unspecified IPv4 address with
// packets from other machines dropped; anything else is bound as given.
func listen(addr string) (net.PacketConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != LocalHost {
		return net.ListenPacket("udp", addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", port, err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(p)})
	if err != nil {
		return nil, err
	}
	return &localConn{conn: conn, own: newOwnAddrs(net.InterfaceAddrs, time.Now)}, nil
}

// Reach says who can reach the UDP port.
func (r *RTC) Reach() Reach { return reachOf(r.conn) }

func reachOf(conn net.PacketConn) Reach {
	if _, ok := conn.(*localConn); ok {
		return ReachLocal
	}
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok && ua.IP.IsLoopback() {
		return ReachLoopback
	}
	return ReachAny
}

// ListenAddr is the UDP address as configured: "local:PORT" for
// ReachLocal, else the bound address.
func (r *RTC) ListenAddr() string {
	if r.Reach() == ReachLocal {
		return LocalHost + ":" + strconv.Itoa(r.port())
	}
	return r.conn.LocalAddr().String()
}

func (r *RTC) port() int {
	if ua, ok := r.conn.LocalAddr().(*net.UDPAddr); ok {
		return ua.Port
	}
	return 0
}

// ReachNote is the start-up line that says who can publish given the HTTP
// address offers are posted to, and which flag to change when it is not
// who the operator probably meant.
func (r *RTC) ReachNote(httpAddr net.Addr) (slog.Level, string) {
	ha, _ := httpAddr.(*net.TCPAddr)
	httpLocal := ha != nil && ha.IP.IsLoopback()
	switch reach, port := r.Reach(), r.port(); {
	case reach != ReachAny && !httpLocal:
		return slog.LevelWarn, fmt.Sprintf("webrtc media answers this machine only (-webrtc-udp %s), "+
			"but -http %s takes offers from other machines: their sessions will fail; "+
			"use -webrtc-udp :%d (and -nat-ip behind NAT)", r.ListenAddr(), httpAddr, port)
	case reach == ReachLocal:
		return slog.LevelInfo, fmt.Sprintf("webrtc media: UDP %d on every IPv4 address of this machine, "+
			"answering this machine only (browsers, ffmpeg, GStreamer); "+
			"for publishers on other machines use -webrtc-udp :%d", port, port)
	case reach == ReachLoopback:
		return slog.LevelWarn, fmt.Sprintf("webrtc media on loopback only (-webrtc-udp %s): "+
			"GStreamer/libnice publishers (webrtcbin, simple-whip-client, whipsink) never send to loopback "+
			"and cannot connect; use -webrtc-udp local:%d to take every publisher on this machine",
			r.ListenAddr(), port)
	}
	return slog.LevelInfo, fmt.Sprintf("webrtc media: UDP %s, open to other machines", r.ListenAddr())
}

// Unreachable explains why a publisher whose offer came over HTTP from
// remote ("host:port") will not reach the UDP port; "" when nothing says
// so. It warns, it does not refuse: a TURN relay or a proxy on this machine
// can still carry such a session.
func (r *RTC) Unreachable(remote string, offer []byte) string {
	reach := r.Reach()
	if reach == ReachAny {
		return ""
	}
	if ap, err := netip.ParseAddrPort(remote); err == nil && !newOwnAddrs(net.InterfaceAddrs, time.Now).has(ap.Addr()) {
		return fmt.Sprintf("the publisher is on another machine, but -webrtc-udp %s answers this machine only; "+
			"start the node with -webrtc-udp :%d", r.ListenAddr(), r.port())
	}
	if reach == ReachLoopback && offersNoLoopback(offer) {
		return fmt.Sprintf("the offer has no loopback candidate, and -webrtc-udp %s listens on loopback only: "+
			"clients that send only from their interfaces (GStreamer/libnice) cannot connect; "+
			"use -webrtc-udp local:%d", r.ListenAddr(), r.port())
	}
	return ""
}

// offersNoLoopback: the offer lists candidates, none on loopback and none
// an mDNS name. Browsers hide their addresses behind mDNS names (or list
// none) and still reach loopback from their interface sockets, where the
// node sees them as peer-reflexive (RFC 8445 §7.3.1.3); a client that
// lists plain interface addresses only is likely libnice, which cannot.
func offersNoLoopback(offer []byte) bool {
	n := 0
	for _, line := range bytes.Split(offer, []byte("\n")) {
		f := strings.Fields(strings.TrimPrefix(string(bytes.TrimSpace(line)), "a=candidate:"))
		if !bytes.HasPrefix(line, []byte("a=candidate:")) || len(f) < 5 {
			continue
		}
		n++
		if strings.HasSuffix(f[4], ".local") {
			return false
		}
		if ip, err := netip.ParseAddr(f[4]); err == nil && ip.IsLoopback() {
			return false
		}
	}
	return n > 0
}

// localConn is the UDP socket of "local:PORT": bound to every address, it
// drops packets from, and never sends to, addresses that are not this
// machine's own. A port that answers nobody else is as closed to other
// machines as a loopback one, while clients here that send from their
// interface addresses (libnice) reach the host candidates pion gathers on
// every interface.
type localConn struct {
	conn *net.UDPConn
	own  *ownAddrs
}

// ReadFromAddrPort is pion's allocation-free read (ice.AddrPortReaderWriter).
func (c *localConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, ap, err := c.conn.ReadFromUDPAddrPort(b)
		if err != nil || c.own.has(ap.Addr()) {
			return n, ap, err
		}
	}
}

// WriteToAddrPort is pion's allocation-free write; to another machine it
// sends nothing and reports success, as a dropping firewall would.
func (c *localConn) WriteToAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	if !c.own.has(ap.Addr()) {
		return len(b), nil
	}
	return c.conn.WriteToUDPAddrPort(b, ap)
}

func (c *localConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, ap, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

func (c *localConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("write to %T: want *net.UDPAddr", addr)
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

func (c *localConn) Close() error                       { return c.conn.Close() }
func (c *localConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *localConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *localConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *localConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
func (c *localConn) SetReadBuffer(n int) error          { return c.conn.SetReadBuffer(n) }

// SyscallConn lets setReadBuffer raise the socket's buffer.
func (c *localConn) SyscallConn() (syscall.RawConn, error) { return c.conn.SyscallConn() }

// muxLogger turns pion's warning that a UDP mux listens on the unspecified
// address into a debug line: castnet does so on purpose for "local:PORT"
// and ":PORT", and pion then gathers a host candidate on every interface,
// which is the point.
type muxLogger struct{ logging.LeveledLogger }

func (l muxLogger) Warn(m string) {
	if strings.Contains(m, "unspecified address") {
		l.LeveledLogger.Info(m)
		return
	}
	l.LeveledLogger.Warn(m)
}
