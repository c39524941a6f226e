// Package testfs gives tests a disk that really fills up: a size-limited
// tmpfs, so that "no space left on device" comes from the kernel, as it
// does on a node whose disk is full, and not from a fake.
package testfs

import (
	"os"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size (a mount option such as "2m") on a
// fresh directory and unmounts it when the test ends. Mounting needs root
// (CI and make test run as root); elsewhere the test is skipped, saying
// why.
func SmallDisk(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// Exhaust fills what space is left on path's file system with one file
// at path; removing it frees the space again.
func Exhaust(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			return
		}
	}
}
