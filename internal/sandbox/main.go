package sandbox

import (
	"os"
	"path/filepath"
)

// InitName is argv[0] of a node init, and envInit the marker in its
// environment: Main runs the init when it sees either.
const (
	InitName = "cobalt-node-init"
	envInit  = "COBALT_NODE_INIT"
)

// Main runs the node init and exits when this process was started as one
// (see Start); otherwise it returns at once. Call it first thing in main and
// in TestMain of every test package that starts sandboxed nodes.
func Main() {
	if os.Getenv(envInit) != "1" && filepath.Base(os.Args[0]) != InitName {
		return
	}
	os.Exit(runInit())
}
