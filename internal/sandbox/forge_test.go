//go:build linux

package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestAdminTaskCannotForgeAnotherTasksResult: node root takes the init's
// end of the control channel (pidfd_getfd) and sends "done" results for
// the run ids near its own. With sequential ids that ended another task of
// the node with a result it never had; run ids are now unguessable.
func TestAdminTaskCannotForgeAnotherTasksResult(t *testing.T) {
	n, dir := startNode(t, InitConfig{})
	victim := make(chan *Result, 1)
	go func() {
		res, err := n.Run(context.Background(), Task{Lease: &nodeproto.TaskLease{LeaseID: "victim", JobID: "j", TaskID: "victim",
			CommandLine: `/bin/sh -c 'while ! test -e /mnt/batch/tasks/shared/gate; do sleep 0.05; done; exit 3'`}})
		if err != nil {
			t.Error(err)
		}
		victim <- res
	}()
	for range 500 {
		if _, err := os.Stat(filepath.Join(dir, "workitems/j/job-1/victim/stdout.txt")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	forger := `python3 -c "
import ctypes, json, struct, os
libc = ctypes.CDLL(None, use_errno=True)
pidfd = libc.syscall(434, 1, 0)         # pidfd_open(the init)
fd = libc.syscall(438, pidfd, 3, 0)     # pidfd_getfd(its control socket)
print('control fd', fd, flush=True)
if fd >= 0:
    for i in range(1, 64):
        b = json.dumps({'op': 'done', 'id': i, 'result': {'report': {'exitCode': 42}}}).encode()
        os.write(fd, struct.pack('>I', len(b)) + b)
"`
	out, rep := runTask(t, n, dir, forger, nodeproto.UserIdentity{AutoUserElevation: "admin"})
	t.Logf("forger: %s %+v", out, rep.Failure)
	if err := os.WriteFile(filepath.Join(dir, "shared", "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := <-victim
	if res == nil || res.Report == nil || res.Report.ExitCode == nil {
		t.Fatalf("victim result %+v", res)
	}
	if *res.Report.ExitCode != 3 {
		t.Errorf("the victim task's result was forged: exit code %d", *res.Report.ExitCode)
	}
}
