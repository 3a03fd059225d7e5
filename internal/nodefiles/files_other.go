//go:build !unix

package nodefiles

import (
	"io/fs"
	"os"
)

// readFlags open a file to serve.
const readFlags = os.O_RDONLY

// linkCount returns 1: hard links are not counted on this system.
func linkCount(fs.FileInfo) uint64 { return 1 }
