//go:build !linux

package debugsrv

func openFDs() int { return -1 }
