//go:build unix

package nodefiles

import (
	"io/fs"
	"os"
	"syscall"
)

// readFlags open a file to serve: a FIFO opens at once instead of waiting
// for a writer, and no terminal becomes the process's controlling terminal.
const readFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// linkCount returns the number of hard links of a file.
func linkCount(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
