//go:build linux

package registry

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to
// disk; it may block while the disk's queue is full, never for the data to
// be durable.
func startWriteback(f *os.File, off, n int64) {
	if writebackOff {
		return
	}
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
