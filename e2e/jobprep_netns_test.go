package e2e

import (
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// TestJobPreparationNetns runs a job's preparation and release tasks on a
// sandboxed node: the tasks find the preparation task's mark and its
// directory, and terminating the job runs the release task, which removes
// the mark.
func TestJobPreparationNetns(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	t.Parallel()
	e := startWith(t, server.Options{Isolation: "netns"})
	c := ctx(t)
	bc := e.batchClient(t, e.plainPool(t, c, "nsprep", 1, 2))
	mark := `"$AZ_BATCH_NODE_SHARED_DIR/mark"`
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("nsprep"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("nsprep")},
		JobPreparationTask: &azbatch.JobPreparationTask{CommandLine: to.Ptr(`/bin/sh -c 'echo prepared >> ` + mark + `'`)},
		JobReleaseTask:     &azbatch.JobReleaseTask{CommandLine: to.Ptr(`/bin/sh -c 'rm ` + mark + `'`)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := bc.CreateTask(c, "nsprep", azbatch.CreateTaskContent{ID: to.Ptr(id),
			CommandLine: to.Ptr(`/bin/sh -c 'cat ` + mark + ` && test -f "$AZ_BATCH_JOB_PREP_DIR/stdout.txt"'`)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b"} {
		tk := e.waitTask(t, c, bc, "nsprep", id)
		if deref(tk.ExecutionInfo.Result) != azbatch.TaskExecutionResultSuccess {
			t.Fatalf("task %s: %+v; stderr %q", id, tk.ExecutionInfo, e.taskFile(t, c, bc, "nsprep", id, "stderr.txt"))
		}
		if got := e.taskFile(t, c, bc, "nsprep", id, "stdout.txt"); got != "prepared\n" {
			t.Errorf("task %s saw %q", id, got)
		}
	}
	if _, err := bc.TerminateJob(c, "nsprep", nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		st := prepStatus(t, c, bc, "nsprep")
		if len(st) != 1 {
			t.Fatalf("status on %d nodes", len(st))
		}
		var r *azbatch.JobReleaseTaskExecutionInfo
		for _, s := range st {
			r = s.JobReleaseTaskExecutionInfo
		}
		if r != nil && deref(r.State) == azbatch.JobReleaseTaskStateCompleted {
			if deref(r.Result) != azbatch.TaskExecutionResultSuccess || deref(r.ExitCode) != 0 {
				t.Fatalf("release: %+v %+v", r, r.FailureInfo)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the release task did not complete: %+v", r)
		}
	}
}
