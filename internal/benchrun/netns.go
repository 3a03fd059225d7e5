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

// envUnprivileged marks a bench re-executed by a user other than root, in
// a user namespace of its own: its child runs nodes as processes.
const envUnprivileged = "COBALT_BENCH_UNPRIVILEGED"

// unprivileged reports whether the bench runs for a user other than root.
func unprivileged() bool { return os.Getenv(envUnprivileged) == "1" }

// ReexecIsolated runs this executable again with args inside a new network
// namespace with only loopback up, and returns its exit code. A user other
// than root gets a user namespace too (as internal/testenv does), and the
// child then runs its nodes as processes (--isolation process).
func ReexecIsolated(args []string) (int, error) {
	ns := []string{"--net"}
	env := []string{envIsolated + "=1"}
	if os.Geteuid() != 0 {
		ns = []string{"--user", "--map-root-user", "--net"}
		env = append(env, envUnprivileged+"=1")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	argv := append(append(ns, "--", "sh", "-c", `ip link set lo up && exec "$@"`, "cobalt-bench", self), args...)
	cmd := exec.Command(unshare, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 0, err
	}
	return 0, nil
}
