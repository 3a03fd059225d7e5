//go:build !linux

package sandbox

import (
	"fmt"
	"os"
	"time"
)

func runInit() int {
	fmt.Fprintln(os.Stderr, "cobalt-node-init: node sandboxes need Linux")
	return 1
}

// SweepCgroups does nothing where node sandboxes do not exist.
func SweepCgroups(time.Duration) int { return 0 }
