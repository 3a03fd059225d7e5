//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}

// startNode starts a sandbox for a node directory under a fresh temporary
// directory closed to everyone but root (as the data directory is).
func startNode(t *testing.T, init InitConfig) (*Node, string) {
	return startNodeTB(t, init)
}

func startNodeB(b *testing.B) (*Node, string) { return startNodeTB(b, InitConfig{}) }

func startNodeTB(t testing.TB, init InitConfig) (*Node, string) {
	t.Helper()
	return startNodeWith(t, init, nil)
}

func startNodeSpawner(t testing.TB, sp *Spawner) (*Node, string) {
	t.Helper()
	return startNodeWith(t, InitConfig{}, sp)
}

// startNodeWith starts the node through sp, or forked here when nil.
func startNodeWith(t testing.TB, init InitConfig, sp *Spawner) (*Node, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("node sandboxes need root")
	}
	data := t.TempDir()
	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(data, "node")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := AcquireRange(-1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Release)
	if init.Hostname == "" {
		init.Hostname = "tvm-test"
	}
	n, err := Start(Config{Name: "test-" + filepath.Base(data), NodeDir: dir, Range: r, Init: init, Spawner: sp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n, dir
}

func runTask(t *testing.T, n *Node, dir, cmd string, user nodeproto.UserIdentity) (string, *nodeproto.ReportRequest) {
	t.Helper()
	res, err := n.Run(context.Background(), Task{Lease: &nodeproto.TaskLease{LeaseID: "l", JobID: "j", TaskID: "t",
		CommandLine: cmd, UserIdentity: user}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Report == nil {
		t.Fatal("no report")
	}
	out, _ := os.ReadFile(filepath.Join(dir, "workitems", "j", "job-1", "t", "stdout.txt"))
	return string(out), res.Report
}

func TestNodeRunsTasksInItsOwnWorld(t *testing.T) {
	n, dir := startNode(t, InitConfig{})
	out, rep := runTask(t, n, dir, `/bin/sh -c 'id -u; hostname; echo $$; pwd; ls /mnt/batch/tasks'`,
		nodeproto.UserIdentity{AutoUserElevation: "admin", AutoUserScope: "pool"})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 || lines[0] != "0" || lines[1] != "tvm-test" || lines[3] != "/mnt/batch/tasks/workitems/j/job-1/t/wd" {
		t.Fatalf("output %q", out)
	}
	if !strings.Contains(out, "workitems") {
		t.Errorf("the node directory is not at /mnt/batch/tasks: %q", out)
	}
	out, rep = runTask(t, n, dir, `/usr/bin/id -u`, nodeproto.UserIdentity{})
	if rep.Failure != nil || strings.TrimSpace(out) != "1000" {
		t.Fatalf("pool non-admin user: %q %+v", out, rep.Failure)
	}
	_, rep = runTask(t, n, dir, `/usr/bin/id -u`, nodeproto.UserIdentity{UserName: "root"})
	if rep.Failure == nil || rep.Failure.Code != CodeUserNotFound {
		t.Fatalf("a user that is not a pool user account ran: %+v", rep.Failure)
	}
}

// TestNoDescriptorOrDirectoryLeadsOutside: neither the init nor a task holds
// a descriptor or a working directory outside the node (runc's
// CVE-2024-21626 leaked one), and the init's binary cannot be written
// through /proc/1/exe (CVE-2019-5736).
func TestNoDescriptorOrDirectoryLeadsOutside(t *testing.T) {
	n, dir := startNode(t, InitConfig{})
	out, rep := runTask(t, n, dir, `/bin/sh -c 'for f in /proc/1/fd/* /proc/self/fd/* /proc/1/cwd /proc/1/root; do readlink $f; done; `+
		`if echo x >> /proc/1/exe; then echo EXE-WRITABLE; fi'`, nodeproto.UserIdentity{AutoUserElevation: "admin"})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 5 {
		t.Fatalf("output %q", out)
	}
	for _, l := range lines {
		ok := l == "/" || l == "/dev/null" || strings.HasPrefix(l, "/mnt/batch/tasks/") || strings.HasPrefix(l, "/proc/") ||
			strings.HasPrefix(l, "pipe:[") || strings.HasPrefix(l, "socket:[") || strings.HasPrefix(l, "anon_inode:")
		if !ok {
			t.Errorf("a descriptor or directory leads outside the node: %q", l)
		}
	}
}

// TestEndedTaskIsKilledWithItsChildren: ending a task (terminate, or the
// agent stopping it) kills its whole session, children included, and the
// init reports it ended.
func TestEndedTaskIsKilledWithItsChildren(t *testing.T) {
	n, dir := startNode(t, InitConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Result, 1)
	go func() {
		res, err := n.Run(ctx, Task{Lease: &nodeproto.TaskLease{LeaseID: "l", JobID: "j", TaskID: "sleep",
			CommandLine: `/bin/sh -c 'sleep 300 & echo $! > $AZ_BATCH_NODE_SHARED_DIR/child; wait'`}})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	child := filepath.Join(dir, "shared", "child")
	var pid string
	for range 500 {
		if b, err := os.ReadFile(child); err == nil && len(b) > 1 {
			pid = strings.TrimSpace(string(b))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pid == "" {
		t.Fatal("the task did not start its child")
	}
	cancel()
	res := <-done
	if res == nil || res.Report == nil || res.Report.Failure == nil || res.Report.Failure.Code != "TaskEnded" {
		t.Fatalf("result %+v", res)
	}
	// The child is gone from the node (killed, then reaped by the init): a
	// task that looks for it soon finds nothing.
	out, _ := runTask(t, n, dir, "/bin/sh -c 'for i in $(seq 100); do test -e /proc/"+pid+
		" || { echo gone; exit; }; sleep 0.1; done; echo alive'", nodeproto.UserIdentity{})
	if strings.TrimSpace(out) != "gone" {
		t.Errorf("the ended task's child is %s", out)
	}
}

// TestTasksCannotStopTheInit: node root signalling the init (PID 1 of the
// node) does not end the node; the next task runs, with default signal
// dispositions.
func TestTasksCannotStopTheInit(t *testing.T) {
	n, dir := startNode(t, InitConfig{})
	_, rep := runTask(t, n, dir, "/bin/sh -c 'for s in TERM INT HUP QUIT USR1 USR2 KILL; do kill -$s 1; done; true'",
		nodeproto.UserIdentity{AutoUserElevation: "admin"})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	out, rep := runTask(t, n, dir, "/bin/sh -c 'grep SigIgn /proc/self/status'", nodeproto.UserIdentity{})
	if rep.Failure != nil || !strings.Contains(out, "0000000000000000") {
		t.Errorf("after signals to the init: %q %+v", out, rep.Failure)
	}
}

// TestHostEnvironmentStaysOutside: nothing of the host process's
// environment (where a database DSN or a key may be) reaches the node's
// init or its tasks.
func TestHostEnvironmentStaysOutside(t *testing.T) {
	t.Setenv("COBALT_TEST_HOST_SECRET", "host-secret-value")
	n, dir := startNode(t, InitConfig{})
	out, rep := runTask(t, n, dir, `/bin/sh -c 'cat /proc/1/environ; env'`, nodeproto.UserIdentity{AutoUserElevation: "admin"})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	if strings.Contains(out, "host-secret-value") {
		t.Errorf("the host's environment reached the node:\n%s", out)
	}
}
