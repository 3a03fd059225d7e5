//go:build linux

package sandbox

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestNonAdminCannotTakeRootFilesThroughTheChownWalk: a non-admin task of
// scope pool races the init's chown of the next pool-user task's directory
// and swaps wd for a symlink to a node-root directory. When the walk went by
// path and gave the top directory away first, it followed the link and gave
// node root's files to the non-admin user (won within ~30 tasks); the walk
// by descriptors, top directory last, leaves nothing to swap.
func TestNonAdminCannotTakeRootFilesThroughTheChownWalk(t *testing.T) {
	n, dir := startNode(t, InitConfig{})
	var root syscall.Stat_t
	if err := syscall.Stat(dir, &root); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/race.py", []byte(`
import os, time
d = "/mnt/batch/tasks/workitems/j/job-1/v"
stop = "/mnt/batch/tasks/shared/stop"
end = time.time() + 120
while time.time() < end and not os.path.exists(stop):
    try:
        st = os.lstat(d)
    except OSError:
        continue
    if st.st_uid != 1000:
        continue
    try:
        os.rename(d + "/wd", d + "/wd.x")
        os.symlink("/mnt/batch/tasks/startup", d + "/wd")
    except OSError:
        pass
    while time.time() < end and not os.path.exists(stop):
        try:
            if os.lstat(d).st_ino != st.st_ino: break
        except OSError:
            break
`), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(id, cmd string, u nodeproto.UserIdentity) {
		if _, err := n.Run(context.Background(), Task{Lease: &nodeproto.TaskLease{LeaseID: id, JobID: "j", TaskID: id,
			CommandLine: cmd, UserIdentity: u}}); err != nil {
			t.Fatal(err)
		}
	}
	run("setup", "/bin/sh -c 'echo root-only > /mnt/batch/tasks/startup/rootfile; chmod 600 /mnt/batch/tasks/startup/rootfile'",
		nodeproto.UserIdentity{AutoUserElevation: "admin"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = n.Run(context.Background(), Task{Lease: &nodeproto.TaskLease{LeaseID: "attacker", JobID: "j", TaskID: "attacker",
			CommandLine: "python3 /mnt/batch/tasks/race.py"}})
	}()
	defer func() {
		_ = os.WriteFile(dir+"/shared/stop", nil, 0o644)
		<-done
	}()
	// The attacker is running once its task directory exists.
	for range 500 {
		if _, err := os.Stat(dir + "/workitems/j/job-1/attacker/stdout.txt"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 300 {
		run("v", "/bin/true", nodeproto.UserIdentity{}) // the next pool-user task
		var st syscall.Stat_t
		if err := syscall.Lstat(dir+"/startup/rootfile", &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != root.Uid {
			t.Fatalf("after %d tasks, node root's file belongs to node uid %d", i+1, st.Uid-root.Uid)
		}
	}
}
