// Command cobalt-node-init is a node sandbox's init and nothing else. cobalt
// starts one per node, and runs its own executable as the init when no
// cobalt-node-init from the same build lies beside it; this smaller binary
// starts in less than half the CPU time and takes less memory per node
// (internal/sandbox, initBeside). It is not a command for users: run on its
// own, it prints that and exits.
package main

import (
	"fmt"
	"os"

	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

func main() {
	sandbox.Main() // runs the init and exits when started as one
	fmt.Fprintln(os.Stderr, "cobalt-node-init is started by cobalt, once per node; build it beside cobalt (go build -o DIR/ ./cmd/...)")
	os.Exit(2)
}
