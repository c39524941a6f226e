package rtc

import (
	"log/slog"
	"net"
	"syscall"
)

// DefaultReadBuffer is the kernel receive buffer asked for the shared UDP
// socket. Every publisher's media arrives on that one socket: at 500
// publishers of 600 kb/s, Linux's default 208 KiB holds about 5 ms of
// packets, so any pause of the reading goroutine longer than that drops
// media in the kernel (RcvbufErrors). 16 MiB holds about 0.4 s.
const DefaultReadBuffer = 16 << 20

// setReadBuffer asks for size bytes of receive buffer. An unprivileged
// process is capped at net.core.rmem_max; as root SO_RCVBUFFORCE lifts the
// cap. What the kernel granted is logged when it is less than asked.
func setReadBuffer(conn net.PacketConn, size int, log *slog.Logger) {
	// *net.UDPConn, or the localConn of "local:PORT" around one.
	uc, ok := conn.(interface {
		SetReadBuffer(int) error
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok || size <= 0 {
		return
	}
	_ = uc.SetReadBuffer(size)
	raw, err := uc.SyscallConn()
	if err != nil {
		return
	}
	got := 0
	_ = raw.Control(func(fd uintptr) {
		if granted(fd) < size {
			_ = forceReadBuffer(fd, size)
		}
		got = granted(fd)
	})
	if got > 0 && got < size {
		log.Warn("webrtc udp: kernel receive buffer smaller than asked; media may drop under load (raise net.core.rmem_max)",
			"asked_bytes", size, "granted_bytes", got)
	}
}

// granted is the usable receive buffer: Linux reports twice what it lets
// data use (socket(7)).
func granted(fd uintptr) int {
	v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	if err != nil {
		return 0
	}
	return v / 2
}
