package rtc

import "syscall"

// forceReadBuffer sets SO_RCVBUFFORCE, which needs CAP_NET_ADMIN.
func forceReadBuffer(fd uintptr, size int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size)
}
