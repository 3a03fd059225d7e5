package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// A Requirement is something of the machine a test needs: a program, a
// privilege, a service. Require checks it.
type Requirement struct {
	// Name says what is needed, for the test's message.
	Name string
	// check returns nil when the requirement is met, or why it is not.
	check func() error
}

// InCI reports whether the tests run in continuous integration (CI=true, as
// .ci/run and every common CI service set it). There, a missing requirement
// is a broken machine, not a reason to skip.
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// Require skips t when a requirement is not met, or fails it when InCI: a CI
// machine that silently lacks Node, root, network namespaces or PostgreSQL
// would otherwise pass while testing nothing.
func Require(t testing.TB, reqs ...Requirement) {
	t.Helper()
	for _, r := range reqs {
		if err := r.check(); err != nil {
			Unavailable(t, fmt.Sprintf("%s: %v", r.Name, err))
		}
	}
}

// Unavailable ends t because something it needs is missing: it skips, or
// fails when InCI. Prefer Require; Unavailable is for conditions a test
// learns only while it runs.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required but missing (CI=true turns this skip into a failure): %s", why)
		return
	}
	t.Skipf("skipped, missing: %s", why)
}

// Node is the node program on PATH, the runtime of the Node SDK suites.
var Node = Requirement{Name: "node on PATH (the Node SDK tests need Node 20, see README)", check: func() error {
	_, err := exec.LookPath("node")
	return err
}}

// NodeModule is an npm package installed in test/node/node_modules (by
// scripts/test, from test/node/package-lock.json), together with Node.
func NodeModule(pkg string) Requirement {
	return Requirement{Name: "node and " + pkg + " in test/node/node_modules (run scripts/test or npm ci in test/node)", check: func() error {
		if err := Node.check(); err != nil {
			return err
		}
		_, err := os.Stat(filepath.Join(NodeDir(), "node_modules", filepath.FromSlash(pkg), "package.json"))
		return err
	}}
}

// Root is the effective user ID 0, which running tasks as other users needs.
var Root = Requirement{Name: "root (tasks run as other users)", check: func() error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root")
	}
	return nil
}}

// EnvPostgresURL names the variable that points the tests at a PostgreSQL
// database they may create schemas in.
const EnvPostgresURL = "TEST_POSTGRES_URL"

// PostgresURL returns TEST_POSTGRES_URL, or skips t (fails it when InCI) when
// it is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvPostgresURL)
	if u == "" {
		Unavailable(t, EnvPostgresURL+" is not set (PostgreSQL backend)")
	}
	return u
}

// ModuleRoot returns the root directory of the cobalt module.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// NodeDir returns test/node, where the Node SDK scripts and their
// node_modules live.
func NodeDir() string { return filepath.Join(ModuleRoot(), "test", "node") }
