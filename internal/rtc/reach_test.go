package rtc

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Offers as the clients write them: libnice lists its interface addresses
// (never loopback), Chromium hides them behind mDNS names.
const (
	libniceOffer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
		"a=candidate:1 1 UDP 2015363327 192.0.2.2 33166 typ host\r\n" +
		"a=candidate:2 1 TCP 1015021823 192.0.2.2 9 typ host tcptype active\r\n"
	browserOffer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
		"a=candidate:3426 1 udp 2113937151 6f1b5c1e-8f4e-4f7b-9a55-0c7e6e1b2a3d.local 54321 typ host generation 0\r\n"
	loopbackOffer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n" +
		"a=candidate:1 1 udp 2113937151 192.0.2.2 5000 typ host\r\n" +
		"a=candidate:2 1 udp 2113937151 127.0.0.1 5001 typ host\r\n"
	trickleOffer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
)

func TestOffersNoLoopback(t *testing.T) {
	tests := []struct {
		name, offer string
		want        bool
	}{
		{"libnice lists interface addresses only", libniceOffer, true},
		{"a browser's mDNS names reach loopback as peer-reflexive", browserOffer, false},
		{"a loopback candidate pairs with a loopback port", loopbackOffer, false},
		{"a trickling client lists none yet", trickleOffer, false},
	}
	for _, tc := range tests {
		if got := offersNoLoopback([]byte(tc.offer)); got != tc.want {
			t.Errorf("%s: offersNoLoopback = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func newTestRTC(t *testing.T, addr string) *RTC {
	t.Helper()
	r, err := New(Config{UDPAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestReachOfEachAddressForm(t *testing.T) {
	tests := []struct {
		addr, listenPrefix string
		want               Reach
	}{
		{"127.0.0.1:0", "127.0.0.1:", ReachLoopback},
		{"local:0", "local:", ReachLocal},
		{":0", "[::]:", ReachAny},
	}
	for _, tc := range tests {
		r := newTestRTC(t, tc.addr)
		if got := r.Reach(); got != tc.want {
			t.Errorf("%s: Reach = %d, want %d", tc.addr, got, tc.want)
		}
		if got := r.ListenAddr(); !strings.HasPrefix(got, tc.listenPrefix) || strings.HasSuffix(got, ":0") {
			t.Errorf("%s: ListenAddr = %q, want %s and the bound port", tc.addr, got, tc.listenPrefix)
		}
	}
	if _, err := New(Config{UDPAddr: "local:99999"}); err == nil {
		t.Error("local:99999 accepted")
	}
}

func TestLocalSocketGetsTheLargeReceiveBuffer(t *testing.T) {
	r := newTestRTC(t, "local:0")
	raw, err := r.conn.(*localConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	if err := raw.Control(func(fd uintptr) { got = granted(fd) }); err != nil {
		t.Fatal(err)
	}
	if got < 1<<20 {
		t.Errorf("receive buffer %d bytes, want at least 1 MiB as on a bound socket", got)
	}
}

// TestLocalAnswerHasAHostCandidatePerInterface: "local:PORT" gives every
// interface address a host candidate on the one port, so a client that
// sends only from its interfaces finds a pair.
func TestLocalAnswerHasAHostCandidatePerInterface(t *testing.T) {
	r := newTestRTC(t, "local:0")
	sdp := answer(t, r)
	port := r.ListenAddr()[len("local:"):]
	if !strings.Contains(sdp, " 127.0.0.1 "+port+" typ host") {
		t.Errorf("no loopback host candidate on port %s:\n%s", port, sdp)
	}
	if nic := nonLoopbackIPv4(t); !strings.Contains(sdp, " "+nic.String()+" "+port+" typ host") {
		t.Errorf("no host candidate for %s on port %s:\n%s", nic, port, sdp)
	}
}

// nonLoopbackIPv4 is an address of this machine's that is not loopback.
func nonLoopbackIPv4(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return netip.Addr{}
}

func TestUnreachableNamesTheFlagToChange(t *testing.T) {
	tests := []struct {
		name, addr, remote, offer, want string
	}{
		{"local: a publisher on another machine", "local:0", "203.0.113.9:5000", browserOffer, "-webrtc-udp :"},
		{"local: libnice on this machine", "local:0", "127.0.0.1:5000", libniceOffer, ""},
		{"loopback: libnice", "127.0.0.1:0", "127.0.0.1:5000", libniceOffer, "-webrtc-udp local:"},
		{"loopback: a browser", "127.0.0.1:0", "127.0.0.1:5000", browserOffer, ""},
		{"loopback: a trickling client", "127.0.0.1:0", "127.0.0.1:5000", trickleOffer, ""},
		{"loopback: another machine", "127.0.0.1:0", "[2001:db8::9]:5000", libniceOffer, "-webrtc-udp :"},
		{"any: never", "0.0.0.0:0", "203.0.113.9:5000", libniceOffer, ""},
	}
	for _, tc := range tests {
		got := newTestRTC(t, tc.addr).Unreachable(tc.remote, []byte(tc.offer))
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: Unreachable = %q, want one naming %q", tc.name, got, tc.want)
		}
	}
}

func TestReachNote(t *testing.T) {
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8935}
	open := &net.TCPAddr{IP: net.IPv4zero, Port: 8935}
	tests := []struct {
		name, addr string
		http       net.Addr
		level      slog.Level
		want       string
	}{
		{"the default", "local:0", loop, slog.LevelInfo, "for publishers on other machines use -webrtc-udp :"},
		{"loopback only", "127.0.0.1:0", loop, slog.LevelWarn, "use -webrtc-udp local:"},
		{"offers from anywhere, media from here", "local:0", open, slog.LevelWarn, "their sessions will fail"},
		{"open", "0.0.0.0:0", open, slog.LevelInfo, "open to other machines"},
	}
	for _, tc := range tests {
		level, note := newTestRTC(t, tc.addr).ReachNote(tc.http)
		if level != tc.level || !strings.Contains(note, tc.want) {
			t.Errorf("%s: ReachNote = %v %q, want %v and %q", tc.name, level, note, tc.level, tc.want)
		}
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestOwnAddrsRefreshAtMostOnceASecond(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	listed := []net.Addr{&net.IPNet{IP: net.IPv4(192, 0, 2, 2), Mask: net.CIDRMask(24, 32)}}
	var fail error
	calls := 0
	own := newOwnAddrs(func() ([]net.Addr, error) { calls++; return listed, fail }, clock.now)
	nic, later := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.4")
	if !own.has(nic) || !own.has(netip.MustParseAddr("127.0.0.53")) || !own.has(netip.MustParseAddr("::ffff:192.0.2.2")) {
		t.Error("a listed address, loopback or a v4-mapped listed address is not own")
	}
	listed = append(listed, &net.IPNet{IP: net.IPv4(198, 51, 100, 4), Mask: net.CIDRMask(24, 32)})
	for range 100 {
		if own.has(later) {
			t.Fatal("a new address was known before the refresh interval")
		}
	}
	if calls != 1 {
		t.Errorf("%d listings within the interval, want 1", calls)
	}
	clock.t = clock.t.Add(ownRefresh)
	if !own.has(later) {
		t.Error("a new address is not known after the refresh interval")
	}
	clock.t, fail = clock.t.Add(ownRefresh), errors.New("netlink down")
	if own.has(netip.MustParseAddr("203.0.113.1")) || !own.has(nic) {
		t.Error("a failed listing changed the set")
	}
}

// TestLocalConnAnswersThisMachineOnly: a packet from an address that is not
// this machine's is dropped, and nothing is sent to one.
func TestLocalConnAnswersThisMachineOnly(t *testing.T) {
	nic := nonLoopbackIPv4(t)
	inner, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	// Own is loopback only, so the NIC address stands for another machine.
	none := func() ([]net.Addr, error) { return nil, nil }
	c := &localConn{conn: inner, own: newOwnAddrs(none, time.Now)}
	defer c.Close()
	port := inner.LocalAddr().(*net.UDPAddr).Port
	send := func(from netip.Addr, msg string) {
		s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: from.AsSlice()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.WriteToUDP([]byte(msg), &net.UDPAddr{IP: from.AsSlice(), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	send(nic, "elsewhere")
	send(netip.MustParseAddr("127.0.0.1"), "here")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := c.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "here" {
		t.Fatalf("read %q from %v (%v), want only the loopback packet", buf[:n], from, err)
	}
	if n, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: nic.AsSlice(), Port: 9}); n != 1 || err != nil {
		t.Errorf("write to another machine = %d, %v; want it dropped as sent", n, err)
	}
}
