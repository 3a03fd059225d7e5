//go:build linux

package sandbox

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestNodesDoNotShareTheHostSessionKeyring: Cobalt started with a session
// keyring of its own (systemd's default KeyringMode=private for services,
// pam_keyinit for a login shell) must not hand it to its nodes. A non-admin
// task must neither read a key of the host's session keyring nor see a key
// another node's task stored in its own session keyring.
func TestNodesDoNotShareTheHostSessionKeyring(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("node sandboxes need root")
	}
	if os.Getenv("COBALT_TEST_IN_SESSION") == "" {
		// Re-run this test in a process that has a session keyring holding
		// one host secret, as a systemd service has.
		runtime.LockOSThread() // the session keyring is per thread; this thread ends with the test
		if _, err := unix.KeyctlJoinSessionKeyring("cobalt-host-session"); err != nil {
			t.Skip("keyrings:", err)
		}
		if _, err := unix.AddKey("user", "cobalt-host-secret", []byte("HOST-SECRET"), unix.KEY_SPEC_SESSION_KEYRING); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
		cmd.Env = append(os.Environ(), "COBALT_TEST_IN_SESSION=1")
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Error(err)
		}
		return
	}
	// The host process's own session keyring must hold the secret, or the
	// test proves nothing.
	if _, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, "user", "cobalt-host-secret", 0); err != nil {
		t.Fatalf("the re-run test process has no host session keyring: %v", err)
	}
	py := `python3 -c "
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
def read(name):
    k = libc.syscall(250, 10, -3, b'user', name, 0)  # KEYCTL_SEARCH in @s
    buf = ctypes.create_string_buffer(64)
    n = libc.syscall(250, 11, k, buf, 64)            # KEYCTL_READ
    return buf.raw[:max(n, 0)].decode()
if sys.argv[1] == 'put':
    v = b'pool-A-secret'
    libc.syscall(248, b'user', b'kinit-ticket', v, len(v), -3)  # add_key to @s
    print('host key:', read(b'cobalt-host-secret'))
    print('own key:', read(b'kinit-ticket'))
else:
    print('other node key:', read(b'kinit-ticket'))
" `
	a, dirA := startNode(t, InitConfig{Hostname: "tvm-a"})
	b, dirB := startNode(t, InitConfig{Hostname: "tvm-b"})
	outA, _ := runTask(t, a, dirA, py+"put", nodeproto.UserIdentity{})
	outB, _ := runTask(t, b, dirB, py+"get", nodeproto.UserIdentity{})
	t.Logf("node A: %s\nnode B: %s", outA, outB)
	if strings.Contains(outA, "HOST-SECRET") {
		t.Errorf("a non-admin task read the host process's session keyring: %s", outA)
	}
	if strings.Contains(outB, "pool-A-secret") {
		t.Errorf("a task of node B read a key a task of node A stored: %s", outB)
	}
}

// TestTasksOfANodeDoNotShareASessionKeyring: a key one task stores in its
// session keyring is not in the next task's, whoever runs it. Tasks used to
// share the init's.
func TestTasksOfANodeDoNotShareASessionKeyring(t *testing.T) {
	py := `python3 -c "
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if sys.argv[1] == 'put':
    v = b'task-A-secret'
    k = libc.syscall(248, b'user', b'kinit-ticket', v, len(v), -3)  # add_key to @s
    print('stored', k > 0)
else:
    k = libc.syscall(250, 10, -3, b'user', b'kinit-ticket', 0)  # KEYCTL_SEARCH in @s
    buf = ctypes.create_string_buffer(64)
    n = libc.syscall(250, 11, k, buf, 64)                        # KEYCTL_READ
    print('other task key:', buf.raw[:max(n, 0)].decode())
" `
	n, dir := startNode(t, InitConfig{})
	outA, _ := runTask(t, n, dir, py+"put", nodeproto.UserIdentity{})
	if !strings.Contains(outA, "stored True") {
		t.Skipf("the task could not store a key: %s", outA)
	}
	for _, u := range []nodeproto.UserIdentity{{}, {AutoUserElevation: "admin"}} {
		outB, _ := runTask(t, n, dir, py+"get", u)
		if strings.Contains(outB, "task-A-secret") {
			t.Errorf("%+v: a task read a key another task of the node stored: %s", u, outB)
		}
	}
}
