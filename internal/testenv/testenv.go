package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// envIsolated marks a process that runs inside the namespace.
const envIsolated = "COBALT_TEST_LOOPBACK_NETNS"

// Isolated reports whether this process runs inside the loopback-only namespace.
func Isolated() bool { return os.Getenv(envIsolated) == "1" }

// LoopbackOnly runs m inside a loopback-only network namespace and exits.
func LoopbackOnly(m *testing.M) {
	if Isolated() {
		os.Exit(m.Run())
	}
	code, err := reexec()
	if err == nil {
		os.Exit(code)
	}
	if os.Getenv("COBALT_TEST_ALLOW_HOST_NETWORK") == "1" {
		fmt.Fprintf(os.Stderr, "testenv: no network namespace (%v); running on the host network as COBALT_TEST_ALLOW_HOST_NETWORK=1 allows\n", err)
		os.Exit(m.Run())
	}
	fmt.Fprintf(os.Stderr, "testenv: cannot create a loopback-only network namespace: %v\n"+
		"set COBALT_TEST_ALLOW_HOST_NETWORK=1 to run these tests on the host network anyway\n", err)
	os.Exit(1)
}

func reexec() (int, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return 0, err
	}
	args := []string{"--net"}
	if os.Geteuid() != 0 {
		args = []string{"--user", "--map-root-user", "--net"}
	}
	// Probe first, so that a failure to isolate is told apart from a test failure.
	probe := exec.Command(unshare, append(args, "--", "sh", "-c", "ip link set lo up")...)
	if out, err := probe.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%v: %s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	argv := append(args, "--", "sh", "-c", `ip link set lo up && exec "$@"`, "testenv", self)
	argv = append(argv, os.Args[1:]...)
	cmd := exec.Command(unshare, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envIsolated+"=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), nil
		}
		return 0, err
	}
	return 0, nil
}
