//go:build !unix

package hostagent

import "os"

// lockFile opens path; without flock, it cannot tell whether another
// process serves the node.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
}
