//go:build !linux

package sandbox

import (
	"fmt"
	"os"
)

func runInit() int {
	fmt.Fprintln(os.Stderr, "cobalt-node-init: node sandboxes need Linux")
	return 1
}
