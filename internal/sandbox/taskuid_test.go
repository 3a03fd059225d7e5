//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestTaskScopeUIDsAreNotReusedAcrossRestarts: the node's directory
// outlives its init; a task-scope task of the restarted node gets a uid
// that owns none of the earlier tasks' directories, so it cannot change
// their files. The uid counter used to restart with the init.
func TestTaskScopeUIDsAreNotReusedAcrossRestarts(t *testing.T) {
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
	taskScope := nodeproto.UserIdentity{AutoUserScope: "task"}
	run := func(n *Node, task, cmd string) string {
		t.Helper()
		res, err := n.Run(context.Background(), Task{Lease: &nodeproto.TaskLease{LeaseID: task, JobID: "j", TaskID: task,
			CommandLine: cmd, UserIdentity: taskScope}})
		if err != nil || res.Report == nil {
			t.Fatalf("%s: %v %+v", task, err, res)
		}
		out, _ := os.ReadFile(filepath.Join(dir, "workitems", "j", "job-1", task, "stdout.txt"))
		return strings.TrimSpace(string(out))
	}
	start := func() *Node {
		t.Helper()
		n, err := Start(Config{Name: "test-" + filepath.Base(data), NodeDir: dir, Range: r, Init: InitConfig{Hostname: "tvm-uid"}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := start()
	first := run(n, "first", `/bin/sh -c 'echo mine > $AZ_BATCH_TASK_WORKING_DIR/file; id -u'`)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = start()
	defer n.Close()
	second := run(n, "second", `/bin/sh -c 'id -u; echo changed > /mnt/batch/tasks/workitems/j/job-1/first/wd/file && echo WROTE'`)
	t.Logf("first task uid %s; second task: %s", first, second)
	if strings.HasPrefix(second, first+"\n") || strings.Contains(second, "WROTE") {
		t.Errorf("the restarted node's task got uid %s of an earlier task: %s", first, second)
	}
}
