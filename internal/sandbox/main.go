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

// Main runs the node init or the spawner and exits when this process was
// started as one (see Start and StartSpawner); otherwise it returns at once.
// Call it first thing in main and in TestMain of every test package that
// starts sandboxed nodes.
func Main() {
	switch {
	case os.Getenv(envInit) == "1" || filepath.Base(os.Args[0]) == InitName:
		os.Exit(runInit())
	case os.Getenv(envSpawner) == "1" || filepath.Base(os.Args[0]) == SpawnerName:
		os.Exit(runSpawner())
	}
}

// Paths and users inside a node.
const (
	// NodeRoot is where the node's directory appears inside the node, as
	// on Azure Batch's Linux nodes.
	NodeRoot = "/mnt/batch/tasks"
	// PoolUser is the non-admin auto user of scope pool; PoolUID its uid
	// and gid inside the node.
	PoolUser = "_azbatch"
	PoolUID  = 1000
	// firstTaskUID is the first uid of non-admin auto users of scope task,
	// one per task; firstNamedUID the first of the pool's named users.
	firstTaskUID  = 20000
	lastTaskUID   = 60000
	firstNamedUID = 5000
)

// CA bundle paths inside the node.
const (
	CABundle = NodeRoot + "/certs/ca-bundle.pem"
	CAFile   = NodeRoot + "/certs/cobalt-ca.pem"
)

// CodeUserNotFound is the failure code of a task whose userIdentity names
// a user the pool does not have.
const CodeUserNotFound = "UserIdentityNotFound"
