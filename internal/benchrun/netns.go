package benchrun

import (
	"errors"
	"os"
	"os/exec"
)

// envIsolated marks a bench process that runs inside its own loopback-only
// network namespace.
const envIsolated = "COBALT_BENCH_NETNS"

// Isolated reports whether this process is the re-executed bench inside its
// namespace, or runs inside internal/testenv's loopback-only namespace.
func Isolated() bool {
	return os.Getenv(envIsolated) == "1" || os.Getenv("COBALT_TEST_LOOPBACK_NETNS") == "1"
}

// ReexecIsolated runs this executable again with args inside a new network
// namespace with only loopback up, and returns its exit code. It needs root
// (as cobalt up needs root for sandboxed nodes); errNoNamespace otherwise.
func ReexecIsolated(args []string) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errNoNamespace
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	argv := append([]string{"--net", "--", "sh", "-c", `ip link set lo up && exec "$@"`, "cobalt-bench", self}, args...)
	cmd := exec.Command(unshare, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envIsolated+"=1")
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 0, err
	}
	return 0, nil
}

var errNoNamespace = errors.New("not root: no network namespace of its own")
